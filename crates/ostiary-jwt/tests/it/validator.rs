//! The strict validator against well-formed and hostile tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ostiary_jwt::{Algorithm, KeySet, Profile, SigningKey, ValidationError, Validator, encode};
use serde_json::{Value, json};

const ISS: &str = "https://id.example.com";
const AUD: &str = "https://api.example.com";
const NOW: i64 = 1_800_000_000;

fn claims() -> Value {
    json!({
        "iss": ISS, "sub": "svc", "aud": AUD, "exp": NOW + 300, "iat": NOW, "nbf": NOW,
        "jti": "j1", "client_id": "svc", "scope": "read"
    })
}

fn setup() -> (SigningKey, Validator) {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let validator = Validator::new(
        Profile::AccessToken,
        ISS,
        AUD,
        KeySet::new([key.verifying_key().clone()]),
    );
    (key, validator)
}

/// Signs arbitrary header and payload bytes with `key`, exactly as given.
fn forge(key: &SigningKey, header: &str, payload: &str) -> String {
    let signing_input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let signature = key.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", B64.encode(signature))
}

fn header(key: &SigningKey, typ: &str) -> String {
    json!({ "alg": key.alg().as_str(), "kid": key.kid(), "typ": typ }).to_string()
}

#[test]
fn a_well_formed_access_token_validates() {
    let (key, validator) = setup();
    let token = encode(&key, "at+jwt", &claims()).unwrap();
    let claims = validator.validate(&token, NOW).unwrap();
    assert_eq!(claims.iss, ISS);
    assert_eq!(claims.aud, [AUD]);
    assert_eq!(claims.str("client_id"), Some("svc"));
}

#[test]
fn alg_none_in_any_spelling_is_refused() {
    let (key, validator) = setup();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({ "alg": alg, "kid": key.kid(), "typ": "at+jwt" }).to_string();
        let token = format!("{}.{}.", B64.encode(h), B64.encode(claims().to_string()));
        assert!(
            matches!(
                validator.validate(&token, NOW),
                Err(ValidationError::UnsupportedAlgorithm(_))
            ),
            "{alg}"
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let (key, validator) = setup();
    let public = serde_json::to_vec(key.public_jwk().unwrap()).unwrap();
    let hmac = SigningKey::hs256(key.kid(), &public);
    let h = json!({ "alg": "HS256", "kid": key.kid(), "typ": "at+jwt" }).to_string();
    let token = forge(&hmac, &h, &claims().to_string());
    assert_eq!(
        validator.validate(&token, NOW),
        Err(ValidationError::AlgorithmNotAllowed(Algorithm::Hs256))
    );
    // Even if HS256 were allowed, the key found by kid is ES256 and decides.
    let lax = Validator::new(
        Profile::AccessToken,
        ISS,
        AUD,
        KeySet::new([key.verifying_key().clone(), hmac_key("other")]),
    );
    assert_eq!(
        lax.validate(&token, NOW),
        Err(ValidationError::AlgorithmMismatch)
    );
}

fn hmac_key(kid: &str) -> ostiary_jwt::VerifyingKey {
    ostiary_jwt::VerifyingKey::hmac(kid, &[9u8; 32])
}

#[test]
fn key_choosing_headers_are_refused() {
    let (key, validator) = setup();
    for param in ["jku", "x5u", "jwk", "x5c", "zip", "crit"] {
        let mut h: Value = serde_json::from_str(&header(&key, "at+jwt")).unwrap();
        h[param] = json!("http://127.0.0.1:1/keys");
        let token = forge(&key, &h.to_string(), &claims().to_string());
        assert!(
            matches!(validator.validate(&token, NOW), Err(ValidationError::ForbiddenHeader(p)) if p == param),
            "{param}"
        );
    }
}

#[test]
fn wrong_typ_and_other_kinds_of_token_are_refused() {
    let (key, validator) = setup();
    for typ in ["JWT", "logout+jwt", "dpop+jwt", ""] {
        let token = forge(&key, &header(&key, typ), &claims().to_string());
        assert_eq!(
            validator.validate(&token, NOW),
            Err(ValidationError::WrongType),
            "{typ}"
        );
    }
    let no_typ = json!({ "alg": "ES256", "kid": key.kid() }).to_string();
    let id_token = forge(&key, &no_typ, &claims().to_string());
    assert_eq!(
        validator.validate(&id_token, NOW),
        Err(ValidationError::WrongType)
    );
    // And an access token is not an ID token.
    let as_id = Validator::new(Profile::IdToken, ISS, AUD, validator.keys().clone());
    let access = encode(&key, "at+jwt", &claims()).unwrap();
    assert_eq!(
        as_id.validate(&access, NOW),
        Err(ValidationError::WrongType)
    );
    assert!(
        validator
            .validate(
                &forge(
                    &key,
                    &header(&key, "application/AT+JWT"),
                    &claims().to_string()
                ),
                NOW
            )
            .is_ok()
    );
}

#[test]
fn time_issuer_and_audience_are_enforced() {
    let (key, validator) = setup();
    let token = encode(&key, "at+jwt", &claims()).unwrap();
    assert_eq!(
        validator.validate(&token, NOW + 400),
        Err(ValidationError::Expired)
    );
    assert_eq!(
        validator.validate(&token, NOW - 100),
        Err(ValidationError::NotYetValid)
    );
    let mut c = claims();
    c["iss"] = json!("https://evil.example.com");
    assert_eq!(
        validator.validate(&encode(&key, "at+jwt", &c).unwrap(), NOW),
        Err(ValidationError::WrongIssuer)
    );
    let mut c = claims();
    c["aud"] = json!(["https://other.example.com"]);
    assert_eq!(
        validator.validate(&encode(&key, "at+jwt", &c).unwrap(), NOW),
        Err(ValidationError::WrongAudience)
    );
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        validator.validate(&encode(&key, "at+jwt", &c).unwrap(), NOW),
        Err(ValidationError::MissingClaim("exp"))
    );
}

#[test]
fn tampering_and_foreign_keys_are_refused() {
    let (key, validator) = setup();
    let token = encode(&key, "at+jwt", &claims()).unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut c = claims();
    c["scope"] = json!("admin");
    let tampered_payload = B64.encode(c.to_string());
    parts[1] = &tampered_payload;
    assert_eq!(
        validator.validate(&parts.join("."), NOW),
        Err(ValidationError::BadSignature)
    );

    // Another key claiming the same kid.
    let impostor = SigningKey::generate(Algorithm::Es256).unwrap();
    let forged = forge(&impostor, &header(&key, "at+jwt"), &claims().to_string());
    assert_eq!(
        validator.validate(&forged, NOW),
        Err(ValidationError::BadSignature)
    );
    let unknown = encode(&impostor, "at+jwt", &claims()).unwrap();
    assert_eq!(
        validator.validate(&unknown, NOW),
        Err(ValidationError::UnknownKey)
    );
}

#[test]
fn malformed_inputs_are_refused_without_panicking() {
    let (key, validator) = setup();
    let dup = r#"{"iss":"https://id.example.com","iss":"https://evil","sub":"svc"}"#;
    assert!(matches!(
        validator.validate(&forge(&key, &header(&key, "at+jwt"), dup), NOW),
        Err(ValidationError::Malformed(_))
    ));
    let bad_utf8 = format!(
        "{}.{}.{}",
        B64.encode(header(&key, "at+jwt")),
        B64.encode(b"{\"iss\":\"\xff\"}"),
        "AA"
    );
    assert!(validator.validate(&bad_utf8, NOW).is_err());
    for junk in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "!!.!!.!!",
        "eyJ.eyJ.",
        &"a".repeat(20_000),
    ] {
        assert!(validator.validate(junk, NOW).is_err(), "{junk:.20}");
    }
    let token = encode(&key, "at+jwt", &claims()).unwrap();
    assert!(validator.validate(&token[..token.len() - 3], NOW).is_err());
    let long_kid = json!({ "alg": "ES256", "kid": "k".repeat(500), "typ": "at+jwt" }).to_string();
    assert_eq!(
        validator.validate(&forge(&key, &long_kid, &claims().to_string()), NOW),
        Err(ValidationError::UnknownKey)
    );
}

#[test]
fn a_token_without_kid_finds_the_only_key_of_its_alg_only_where_allowed() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let other = SigningKey::generate(Algorithm::EdDsa).unwrap();
    let assertion = json!({ "iss": "c1", "sub": "c1", "aud": ISS, "exp": NOW + 60, "jti": "a1" });
    let no_kid = forge(
        &key,
        &json!({ "alg": "ES256" }).to_string(),
        &assertion.to_string(),
    );
    let keys = KeySet::new([key.verifying_key().clone(), other.verifying_key().clone()]);
    let strict = Validator::new(Profile::ClientAssertion, "c1", ISS, keys.clone());
    assert_eq!(
        strict.validate(&no_kid, NOW).unwrap_err(),
        ValidationError::MissingKid
    );
    let lenient = strict.clone().kid_optional();
    assert_eq!(
        lenient.validate(&no_kid, NOW).unwrap().sub.as_deref(),
        Some("c1")
    );

    // Two ES256 keys: which one is meant cannot be told, so the token is refused.
    let second = SigningKey::generate(Algorithm::Es256).unwrap();
    let ambiguous = lenient.with_keys(KeySet::new([
        key.verifying_key().clone(),
        second.verifying_key().clone(),
    ]));
    assert_eq!(
        ambiguous.validate(&no_kid, NOW).unwrap_err(),
        ValidationError::MissingKid
    );
}

#[test]
fn a_published_key_without_kid_is_named_by_its_thumbprint() {
    let key = SigningKey::generate(Algorithm::Es256).unwrap();
    let mut jwk = key.public_jwk().unwrap().clone();
    jwk.kid = None;
    let thumbprint = jwk.thumbprint().unwrap();
    let set = KeySet::from_jwks(&ostiary_jwt::JwkSet { keys: vec![jwk] });
    assert_eq!(set.len(), 1);
    assert_eq!(set.get(&thumbprint).unwrap().alg(), Algorithm::Es256);
}
