//! Known-answer tests: every Wycheproof vector for the three signature algorithms Ostiary
//! uses, verified through the same path tokens take (a JWK loaded by `VerifyingKey::from_jwk`,
//! then `verify`). Valid vectors must verify, invalid ones must not; "acceptable" ones may go
//! either way.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ostiary_jwt::{Jwk, VerifyingKey};
use wycheproof::TestResult;

fn jwk(kty: &str, crv: Option<&str>, alg: &str) -> Jwk {
    Jwk {
        kty: kty.into(),
        crv: crv.map(Into::into),
        x: None,
        y: None,
        n: None,
        e: None,
        kid: Some("vector".into()),
        use_: Some("sig".into()),
        alg: Some(alg.into()),
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Counts (checked, verified) and fails on any verdict that contradicts the vector.
fn check(
    name: &str,
    key: &VerifyingKey,
    tc_id: usize,
    msg: &[u8],
    sig: &[u8],
    result: TestResult,
    tally: &mut (usize, usize),
) {
    let verified = key.verify(msg, sig);
    match result {
        TestResult::Valid => assert!(verified, "{name} tc {tc_id}: valid signature rejected"),
        TestResult::Invalid => assert!(!verified, "{name} tc {tc_id}: invalid signature accepted"),
        TestResult::Acceptable => {}
    }
    tally.0 += 1;
    tally.1 += usize::from(verified);
}

#[test]
fn ecdsa_p256_sha256_ieee_p1363() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).unwrap();
    let mut tally = (0, 0);
    for group in &set.test_groups {
        let point: &[u8] = &group.key.key;
        assert_eq!(point.len(), 65);
        let key = VerifyingKey::from_jwk(&Jwk {
            x: Some(B64.encode(&point[1..33])),
            y: Some(B64.encode(&point[33..])),
            ..jwk("EC", Some("P-256"), "ES256")
        })
        .unwrap();
        for test in &group.tests {
            check(
                "ES256",
                &key,
                test.tc_id,
                &test.msg,
                &test.sig,
                test.result,
                &mut tally,
            );
        }
    }
    assert!(tally.0 > 200, "only {} vectors", tally.0);
    eprintln!("ES256: {} vectors checked, {} verified", tally.0, tally.1);
}

#[test]
fn ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut tally = (0, 0);
    for group in &set.test_groups {
        let key = VerifyingKey::from_jwk(&Jwk {
            x: Some(B64.encode(&*group.key.pk)),
            ..jwk("OKP", Some("Ed25519"), "EdDSA")
        })
        .unwrap();
        for test in &group.tests {
            check(
                "EdDSA",
                &key,
                test.tc_id,
                &test.msg,
                &test.sig,
                test.result,
                &mut tally,
            );
        }
    }
    assert!(tally.0 > 100, "only {} vectors", tally.0);
    eprintln!("EdDSA: {} vectors checked, {} verified", tally.0, tally.1);
}

#[test]
fn rsa_pkcs1_v1_5_2048_sha256() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::Rsa2048Sha256).unwrap();
    let mut tally = (0, 0);
    for group in &set.test_groups {
        let key = VerifyingKey::from_jwk(&Jwk {
            n: Some(B64.encode(strip_zeros(&group.key.n))),
            e: Some(B64.encode(strip_zeros(&group.key.e))),
            ..jwk("RSA", None, "RS256")
        })
        .unwrap();
        for test in &group.tests {
            check(
                "RS256",
                &key,
                test.tc_id,
                &test.msg,
                &test.sig,
                test.result,
                &mut tally,
            );
        }
    }
    assert!(tally.0 > 100, "only {} vectors", tally.0);
    eprintln!("RS256: {} vectors checked, {} verified", tally.0, tally.1);
}
