//! The raw signing and verification rates of each key type: the ceiling for token issuance,
//! which `bench/run.sh` reports next to the server's token rate.

use criterion::{Criterion, criterion_group, criterion_main};
use ostiary_jwt::{Algorithm, KeySet, Profile, SigningKey, Validator, encode};
use serde_json::json;
use std::hint::black_box;

fn claims() -> serde_json::Value {
    json!({
        "iss": "http://127.0.0.1:8080", "sub": "svc", "aud": "https://api.example.com",
        "exp": 4_000_000_000_i64, "iat": 1_700_000_000, "nbf": 1_700_000_000,
        "jti": "abcdefghijklmnopqrstuv", "client_id": "svc", "scope": "read write"
    })
}

fn signing(c: &mut Criterion) {
    for alg in Algorithm::ASYMMETRIC {
        let Ok(key) = SigningKey::generate(alg) else {
            return;
        };
        let message = [7u8; 300];
        c.bench_function(&format!("sign/{alg}"), |b| {
            b.iter(|| key.sign(black_box(&message)))
        });
    }
    if let Ok(key) = SigningKey::generate(Algorithm::Es256) {
        let claims = claims();
        c.bench_function("encode_access_token/ES256", |b| {
            b.iter(|| encode(&key, "at+jwt", black_box(&claims)))
        });
        let Ok(token) = encode(&key, "at+jwt", &claims) else {
            return;
        };
        let validator = Validator::new(
            Profile::AccessToken,
            "http://127.0.0.1:8080",
            "https://api.example.com",
            KeySet::new([key.verifying_key().clone()]),
        );
        c.bench_function("validate_access_token/ES256", |b| {
            b.iter(|| validator.validate(black_box(&token), 1_800_000_000))
        });
    }
}

criterion_group!(benches, signing);
criterion_main!(benches);
