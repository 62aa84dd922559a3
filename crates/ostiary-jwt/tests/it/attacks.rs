//! The attack suite, continued (see also validator.rs): one or more tests per practice of
//! RFC 8725 as docs/rfc8725.md maps them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ostiary_jwt::{
    Algorithm, DpopValidator, Jwk, KeySet, Profile, SigningKey, ValidationError, Validator,
    VerifyingKey, encode,
};
use serde_json::{Value, json};

const ISS: &str = "https://id.example.com";
const AUD: &str = "https://api.example.com";
const NOW: i64 = 1_800_000_000;

fn forge(key: &SigningKey, header: &Value, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string())
    );
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(signature))
}

fn access_claims() -> Value {
    json!({ "iss": ISS, "sub": "svc", "aud": AUD, "exp": NOW + 60, "iat": NOW, "jti": "j", "client_id": "svc" })
}

fn validator_for(key: &SigningKey, profile: Profile) -> Validator {
    Validator::new(
        profile,
        ISS,
        AUD,
        KeySet::new([key.verifying_key().clone()]),
    )
}

/// Practice 10: `kid` is only ever a map key; injection strings find nothing.
#[test]
fn kid_injection_strings_find_no_key() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let validator = validator_for(&key, Profile::AccessToken);
    for kid in [
        "' OR '1'='1",
        "../../../../dev/null",
        "/etc/passwd",
        "\u{0}",
        "*",
        "$(touch /tmp/pwned)",
        "https://evil.example/keys.json",
    ] {
        let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid });
        let token = forge(&key, &header, &access_claims());
        assert_eq!(
            validator.validate(&token, NOW),
            Err(ValidationError::UnknownKey),
            "{kid:?}"
        );
    }
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": 42 });
    assert!(
        validator
            .validate(&forge(&key, &header, &access_claims()), NOW)
            .is_err()
    );
}

/// Practice 10: `jku` and `x5u` are refused, never fetched: a listener they point at sees no
/// connection.
#[test]
fn jku_and_x5u_are_never_contacted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let validator = validator_for(&key, Profile::AccessToken);
    for param in ["jku", "x5u"] {
        let mut header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": key.kid() });
        header[param] = json!(url);
        let token = forge(&key, &header, &access_claims());
        assert_eq!(
            validator.validate(&token, NOW),
            Err(ValidationError::ForbiddenHeader(param))
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        listener.accept().is_err(),
        "the validator connected to a URL from a token"
    );
}

/// Practice 4: EC points off the curve are refused when the key is loaded.
#[test]
fn ec_points_off_the_curve_are_refused() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut jwk = key.public_jwk().unwrap().clone();
    let mut y = B64.decode(jwk.y.as_ref().unwrap()).unwrap();
    y[31] ^= 1;
    jwk.y = Some(B64.encode(&y));
    assert!(VerifyingKey::from_jwk(&jwk).is_err());
    jwk.y = Some(B64.encode([0u8; 32]));
    jwk.x = Some(B64.encode([0u8; 32]));
    assert!(
        VerifyingKey::from_jwk(&jwk).is_err(),
        "the point at infinity / (0,0)"
    );
}

/// Practices 2 and 5: RSA below 2048 bits and deprecated algorithms are refused.
#[test]
fn weak_rsa_and_deprecated_algorithms_are_refused() {
    let short = Jwk {
        kty: "RSA".into(),
        n: Some(B64.encode([0xC5u8; 128])),
        e: Some("AQAB".into()),
        kid: Some("short".into()),
        alg: Some("RS256".into()),
        use_: None,
        crv: None,
        x: None,
        y: None,
    };
    assert!(
        VerifyingKey::from_jwk(&short).is_err(),
        "1024-bit RSA accepted"
    );
    let mut just_short = vec![0x40u8; 256]; // 2047 bits
    just_short[255] |= 1;
    let padded = [&[0u8][..], &[0xC5u8; 256]].concat(); // leading zero: non-minimal encoding
    for n in [just_short, padded] {
        let jwk = Jwk {
            n: Some(B64.encode(&n)),
            ..short.clone()
        };
        assert!(
            VerifyingKey::from_jwk(&jwk).is_err(),
            "{} bytes accepted",
            n.len()
        );
    }
    // Exponents that no signature verifies under (e = 1 makes "signatures" trivial to forge):
    // refused when the key is loaded, where a client registering it learns so.
    let full = B64.encode([0xC5u8; 256]);
    for e in ["AQ", "Ag", "BA", "AQAA", "AgAAAAE", "AQAAAAAB"] {
        let jwk = Jwk {
            n: Some(full.clone()),
            e: Some(e.into()),
            ..short.clone()
        };
        assert!(VerifyingKey::from_jwk(&jwk).is_err(), "e {e} accepted");
    }
    for e in ["Aw", "AQAB", "AQAAAAE"] {
        let jwk = Jwk {
            n: Some(full.clone()),
            e: Some(e.into()),
            ..short.clone()
        };
        assert!(VerifyingKey::from_jwk(&jwk).is_ok(), "e {e} refused");
    }
    let key = SigningKey::generate(Algorithm::Rs256).unwrap();
    let validator = validator_for(&key, Profile::AccessToken);
    for alg in [
        "RSA1_5", "RS1", "PS256", "RS384", "ES256K", "A128KW", "dir", "HS256 ",
    ] {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": key.kid() });
        let result = validator.validate(&forge(&key, &header, &access_claims()), NOW);
        assert!(
            matches!(result, Err(ValidationError::UnsupportedAlgorithm(_))),
            "{alg}: {result:?}"
        );
    }
    let mut with_alg = key.public_jwk().unwrap().clone();
    with_alg.alg = Some("RSA1_5".into());
    assert!(VerifyingKey::from_jwk(&with_alg).is_err());
}

/// Practice 1: a caller narrowing the algorithms is obeyed.
#[test]
fn allow_only_narrows_algorithms() {
    let key = SigningKey::generate(Algorithm::EdDsa).unwrap();
    let validator = validator_for(&key, Profile::AccessToken).allow_only(&[Algorithm::Es256]);
    let token = encode(&key, "at+jwt", &access_claims()).unwrap();
    assert_eq!(
        validator.validate(&token, NOW),
        Err(ValidationError::AlgorithmNotAllowed(Algorithm::EdDsa))
    );
}

/// Practice 12: each profile refuses the others' tokens, with the same key and issuer.
#[test]
fn profiles_are_mutually_exclusive() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let id_claims =
        json!({ "iss": ISS, "sub": "u1", "aud": AUD, "exp": NOW + 60, "iat": NOW, "nonce": "n" });
    let logout_claims = json!({ "iss": ISS, "sub": "u1", "aud": AUD, "iat": NOW, "exp": NOW + 60, "jti": "l",
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} } });
    let assertion_claims =
        json!({ "iss": "svc", "sub": "svc", "aud": AUD, "exp": NOW + 60, "jti": "a" });
    // A request object signed by the client; its parameters include `nonce` and `scope`.
    let request_claims = json!({ "iss": "svc", "aud": AUD, "exp": NOW + 60, "nbf": NOW,
        "jti": "r", "client_id": "svc", "response_type": "code", "scope": "openid",
        "nonce": "n" });
    let tokens = [
        (
            Profile::AccessToken,
            encode(&key, "at+jwt", &access_claims()).unwrap(),
        ),
        (Profile::IdToken, encode(&key, "JWT", &id_claims).unwrap()),
        (
            Profile::LogoutToken,
            encode(&key, "logout+jwt", &logout_claims).unwrap(),
        ),
        (
            Profile::ClientAssertion,
            encode(&key, "JWT", &assertion_claims).unwrap(),
        ),
        // Explicitly typed, as draft-ietf-oauth-rfc7523bis asks: still an assertion only.
        (
            Profile::ClientAssertion,
            encode(&key, "client-authentication+jwt", &assertion_claims).unwrap(),
        ),
        (
            Profile::RequestObject,
            encode(&key, "oauth-authz-req+jwt", &request_claims).unwrap(),
        ),
    ];
    for (profile, _) in &tokens {
        let issuer = if matches!(profile, Profile::ClientAssertion | Profile::RequestObject) {
            "svc"
        } else {
            ISS
        };
        let validator = Validator::new(
            *profile,
            issuer,
            AUD,
            KeySet::new([key.verifying_key().clone()]),
        );
        for (kind, token) in &tokens {
            let result = validator.validate(token, NOW);
            assert_eq!(
                result.is_ok(),
                kind == profile,
                "{kind:?} token under the {profile:?} rules: {result:?}"
            );
        }
    }
}

/// Practice 8: a valid signature does not make a foreign issuer acceptable.
#[test]
fn another_issuer_with_a_valid_signature_is_refused() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut claims = access_claims();
    claims["iss"] = json!("https://id.example.com/"); // one byte longer
    let token = encode(&key, "at+jwt", &claims).unwrap();
    assert_eq!(
        validator_for(&key, Profile::AccessToken).validate(&token, NOW),
        Err(ValidationError::WrongIssuer)
    );
}

/// Practice 3: every segment matters; nothing is skipped on any error path.
#[test]
fn oversized_and_extreme_values_do_not_panic() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let validator = validator_for(&key, Profile::AccessToken);
    let mut claims = access_claims();
    claims["exp"] = json!(i64::MAX);
    claims["nbf"] = json!(i64::MIN);
    claims["iat"] = json!(1e300);
    let token = encode(&key, "at+jwt", &claims).unwrap();
    assert!(validator.validate(&token, i64::MAX).is_err());
    let huge = format!("{}.{}.{}", "a".repeat(9000), "b".repeat(9000), "c");
    assert_eq!(
        validator.validate(&huge, NOW),
        Err(ValidationError::TooLarge)
    );
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let token = forge(
        &key,
        &json!({ "alg": "ES256", "typ": "at+jwt", "kid": key.kid() }),
        &json!({}),
    );
    let parts: Vec<&str> = token.split('.').collect();
    let deep = format!("{}.{}.{}", parts[0], B64.encode(nested), parts[2]);
    assert!(validator.validate(&deep, NOW).is_err());
}

fn dpop_proof(key: &SigningKey, header_extra: Value, claims: Value) -> String {
    let mut header = json!({ "alg": key.alg().as_str(), "typ": "dpop+jwt" });
    let mut jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    jwk.as_object_mut().unwrap().remove("kid");
    header["jwk"] = jwk;
    for (k, v) in header_extra.as_object().unwrap() {
        header[k] = v.clone();
    }
    forge(key, &header, &claims)
}

fn dpop_claims() -> Value {
    json!({ "jti": "p1", "htm": "POST", "htu": "https://id.example.com/token", "iat": NOW })
}

#[test]
fn dpop_proofs_are_bound_to_key_method_uri_time_and_token() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let dpop = DpopValidator::default();
    let proof = dpop_proof(&key, json!({}), dpop_claims());
    let checked = dpop
        .validate(
            &proof,
            "POST",
            "https://id.example.com/token?x=1",
            None,
            NOW,
        )
        .unwrap();
    assert_eq!(checked.jkt, key.kid(), "jkt is the RFC 7638 thumbprint");
    assert_eq!(
        dpop.validate(&proof, "GET", "https://id.example.com/token", None, NOW),
        Err(ValidationError::InvalidClaim("htm"))
    );
    assert_eq!(
        dpop.validate(&proof, "POST", "https://evil.example.com/token", None, NOW),
        Err(ValidationError::InvalidClaim("htu"))
    );
    assert_eq!(
        dpop.validate(
            &proof,
            "POST",
            "https://id.example.com/token",
            None,
            NOW + 600
        ),
        Err(ValidationError::Expired)
    );
    assert_eq!(
        dpop.validate(
            &proof,
            "POST",
            "https://id.example.com/token",
            Some("at"),
            NOW
        ),
        Err(ValidationError::MissingClaim("ath"))
    );
    let mut with_ath = dpop_claims();
    with_ath["ath"] = json!(B64.encode(aws_sha256(b"at")));
    let bound = dpop_proof(&key, json!({}), with_ath);
    assert!(
        dpop.validate(
            &bound,
            "POST",
            "https://id.example.com/token",
            Some("at"),
            NOW
        )
        .is_ok()
    );
    assert_eq!(
        dpop.validate(
            &bound,
            "POST",
            "https://id.example.com/token",
            Some("other"),
            NOW
        ),
        Err(ValidationError::InvalidClaim("ath"))
    );
}

fn aws_sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

#[test]
fn dpop_refuses_private_keys_symmetric_keys_and_other_types() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let dpop = DpopValidator::default();
    let uri = "https://id.example.com/token";
    let mut header = json!({ "alg": "ES256", "typ": "dpop+jwt" });
    let mut jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    jwk["d"] = json!("AAAA");
    header["jwk"] = jwk;
    assert_eq!(
        dpop.validate(
            &forge(&key, &header, &dpop_claims()),
            "POST",
            uri,
            None,
            NOW
        ),
        Err(ValidationError::InvalidHeader("jwk"))
    );
    let hs = SigningKey::hs256("k", &[1u8; 32]);
    let header = json!({ "alg": "HS256", "typ": "dpop+jwt", "jwk": { "kty": "oct", "k": "AQ" } });
    assert!(
        dpop.validate(&forge(&hs, &header, &dpop_claims()), "POST", uri, None, NOW)
            .is_err()
    );
    let wrong_typ = dpop_proof(&key, json!({ "typ": "at+jwt" }), dpop_claims());
    assert_eq!(
        dpop.validate(&wrong_typ, "POST", uri, None, NOW),
        Err(ValidationError::WrongType)
    );
    // An access token validator never takes the key from the token.
    let embedded = dpop_proof(
        &key,
        json!({ "typ": "at+jwt", "kid": key.kid() }),
        access_claims(),
    );
    assert_eq!(
        validator_for(&key, Profile::AccessToken).validate(&embedded, NOW),
        Err(ValidationError::ForbiddenHeader("jwk"))
    );
    let other = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut header = json!({ "alg": "ES256", "typ": "dpop+jwt" });
    header["jwk"] = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    assert_eq!(
        dpop.validate(
            &forge(&other, &header, &dpop_claims()),
            "POST",
            uri,
            None,
            NOW
        ),
        Err(ValidationError::BadSignature)
    );
}

/// Back-Channel Logout 1.0 2.4: `exp`, the logout event and `sub` or `sid` are required.
#[test]
fn logout_tokens_need_expiry_event_and_subject() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let validator = validator_for(&key, Profile::LogoutToken);
    let good = json!({ "iss": ISS, "sid": "s1", "aud": AUD, "iat": NOW, "exp": NOW + 60, "jti": "l",
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} } });
    assert!(
        validator
            .validate(&encode(&key, "logout+jwt", &good).unwrap(), NOW)
            .is_ok()
    );
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        validator.validate(&encode(&key, "logout+jwt", &no_exp).unwrap(), NOW),
        Err(ValidationError::MissingClaim("exp"))
    );
    let mut wrong_event = good.clone();
    wrong_event["events"] = json!({ "urn:other": {} });
    assert_eq!(
        validator.validate(&encode(&key, "logout+jwt", &wrong_event).unwrap(), NOW),
        Err(ValidationError::InvalidClaim("events"))
    );
    let mut anonymous = good;
    anonymous.as_object_mut().unwrap().remove("sid");
    assert_eq!(
        validator.validate(&encode(&key, "logout+jwt", &anonymous).unwrap(), NOW),
        Err(ValidationError::MissingClaim("sub"))
    );
}

#[test]
fn claim_types_are_checked() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let validator = validator_for(&key, Profile::AccessToken);
    for (name, value) in [
        ("client_id", json!(7)),
        ("scope", json!(["admin"])),
        ("aud", json!([])),
        ("exp", json!("soon")),
    ] {
        let mut claims = access_claims();
        claims[name] = value;
        let result = validator.validate(&encode(&key, "at+jwt", &claims).unwrap(), NOW);
        assert!(
            matches!(result, Err(ValidationError::InvalidClaim(_))),
            "{name}: {result:?}"
        );
    }
}

#[test]
fn dpop_bounds_jti_and_refuses_odd_nonces() {
    let key = SigningKey::generate(Algorithm::EdDsa).unwrap();
    let dpop = DpopValidator::default();
    let uri = "https://id.example.com/token";
    let mut long = dpop_claims();
    long["jti"] = json!("j".repeat(300));
    assert_eq!(
        dpop.validate(&dpop_proof(&key, json!({}), long), "POST", uri, None, NOW),
        Err(ValidationError::InvalidClaim("jti"))
    );
    let mut odd = dpop_claims();
    odd["nonce"] = json!(5);
    assert_eq!(
        dpop.validate(&dpop_proof(&key, json!({}), odd), "POST", uri, None, NOW),
        Err(ValidationError::InvalidClaim("nonce"))
    );
    let mut header = json!({ "alg": "EdDSA", "typ": "dpop+jwt" });
    let mut jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    jwk["oth"] = json!([]);
    header["jwk"] = jwk;
    assert_eq!(
        dpop.validate(
            &forge(&key, &header, &dpop_claims()),
            "POST",
            uri,
            None,
            NOW
        ),
        Err(ValidationError::InvalidHeader("jwk"))
    );
}
