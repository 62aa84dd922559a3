//! Arbitrary bytes as a compact token, through every profile and the DPoP validator, and as a
//! JWKS: nothing may panic, and nothing unsigned may validate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ostiary_jwt::{Algorithm, DpopValidator, JwkSet, KeySet, Profile, SigningKey, Validator};
use std::sync::OnceLock;

struct Fixture {
    validators: Vec<Validator>,
    dpop: DpopValidator,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let es = SigningKey::generate(Algorithm::Es256).expect("key");
        let ed = SigningKey::generate(Algorithm::EdDsa).expect("key");
        let hs = SigningKey::hs256("hs", &[7u8; 32]);
        let keys = KeySet::new([
            es.verifying_key().clone(),
            ed.verifying_key().clone(),
            hs.verifying_key().clone(),
        ]);
        let validators = [
            Profile::AccessToken,
            Profile::IdToken,
            Profile::LogoutToken,
            Profile::ClientAssertion,
        ]
        .into_iter()
        .map(|p| Validator::new(p, "https://id.example.com", "https://api.example.com", keys.clone()))
        .collect();
        Fixture {
            validators,
            dpop: DpopValidator::default(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let token = String::from_utf8_lossy(data);
    for validator in &fixture.validators {
        // Random bytes cannot carry a valid signature of our keys.
        assert!(validator.validate(&token, 1_800_000_000).is_err());
    }
    let _ = fixture
        .dpop
        .validate(&token, "POST", "https://id.example.com/token", None, 1_800_000_000);
    if let Ok(set) = serde_json::from_slice::<JwkSet>(data) {
        let _ = KeySet::from_jwks(&set);
    }
});
