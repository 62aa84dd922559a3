//! What a key-holding client signs, made by a third-party JOSE library (`jsonwebtoken`) and
//! not by Ostiary's signer: DPoP proofs (RFC 9449 4.2) and client assertions (RFC 7523 3).

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// RFC 7523 2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's P-256 key pair.
pub struct ClientKey {
    encoding: EncodingKey,
    /// The public key as a JWK (no `kid`).
    pub jwk: Jwk,
    /// Its RFC 7638 thumbprint as `jsonwebtoken` computes it: what `cnf.jkt` must say.
    pub jkt: String,
}

impl ClientKey {
    pub fn generate() -> Self {
        let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        let jkt = jwk.thumbprint(ThumbprintHash::SHA256);
        Self { encoding, jwk, jkt }
    }

    /// `{"keys": [the public key, kid "k1"]}`, as the client registers it.
    pub fn jwks(&self) -> String {
        let mut jwk = serde_json::to_value(&self.jwk).unwrap();
        jwk["kid"] = json!("k1");
        json!({ "keys": [jwk] }).to_string()
    }

    /// A fresh DPoP proof for `method` `htu`, with `ath` for `access_token` and `nonce`.
    pub fn proof(
        &self,
        method: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut claims = json!({ "jti": unique("proof"), "htm": method, "htu": htu, "iat": now() });
        if let Some(token) = access_token {
            use aws_lc_rs::digest::{SHA256, digest};
            use base64::Engine;
            let hash = digest(&SHA256, token.as_bytes());
            claims["ath"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.proof_with(&claims)
    }

    /// A proof with exactly these claims, header `typ: dpop+jwt` and the public `jwk`.
    pub fn proof_with(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        self.sign(&header, claims)
    }

    /// A header given as raw JSON (members `jsonwebtoken`'s types would drop, such as a
    /// private `d`) and claims, signed ES256 with this key.
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::ES256).unwrap();
        format!("{input}.{signature}")
    }

    /// Any header and claims, signed with this key.
    pub fn sign(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
    }

    /// A client assertion for `client_id` to `aud`, valid for 60 s, with a fresh `jti`.
    pub fn assertion(&self, client_id: &str, aud: &str) -> String {
        self.assertion_with(&json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "iat": now(), "exp": now() + 60, "jti": unique("assertion"),
        }))
    }

    /// An assertion with exactly these claims, header `kid: k1`.
    pub fn assertion_with(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        self.sign(&header, claims)
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A value never produced twice in this test process.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// The form fields of `private_key_jwt` authentication with `assertion`.
pub fn assertion_fields(assertion: &str) -> [(&'static str, &str); 2] {
    [
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ]
}
