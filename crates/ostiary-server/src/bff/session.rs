//! The BFF's sessions: the browser's cookie holds a random id; the store holds its SHA-256 and
//! the session's tokens, sealed with AES-256-GCM under a key derived from `session_secret` and
//! bound to that id, so a sealed row copied to another id does not open.

use std::sync::Arc;

use ostiary_core::Store;
use ostiary_core::bff::BffSession;
use ostiary_core::random::random_token;
use ostiary_core::secret::SecretHash;
use ostiary_jwt::{Algorithm, KeySealer, SigningKey};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use time::{Duration, OffsetDateTime};

/// What a session holds, sealed at rest.
#[derive(Serialize, Deserialize)]
pub struct Tokens {
    #[serde(serialize_with = "expose_optional")]
    pub refresh_token: Option<SecretString>,
    /// The ID token's claims, as `/bff/user` shows them.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// One access token per audience the session has called.
    pub access: Vec<AccessToken>,
    /// The PKCS#8 document of the ES256 key the tokens are bound to (RFC 9449), base64url.
    #[serde(serialize_with = "expose_optional")]
    pub dpop_key: Option<SecretString>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// An access token for one audience.
#[derive(Serialize, Deserialize)]
pub struct AccessToken {
    /// The RFC 8707 resource it was asked for; `None`: the server's default audience.
    pub audience: Option<String>,
    #[serde(serialize_with = "expose")]
    pub token: SecretString,
    /// `Bearer` or `DPoP` (RFC 9449 section 5).
    pub token_type: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("audience", &self.audience)
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn expose<S: Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

pub(super) fn expose_optional<S: Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

impl Tokens {
    /// The access token for `audience`, if it is still good `margin_secs` from `now`.
    pub fn access_for(
        &self,
        audience: Option<&str>,
        now: i64,
        margin_secs: i64,
    ) -> Option<&AccessToken> {
        self.access
            .iter()
            .find(|a| a.audience.as_deref() == audience && a.expires_at - margin_secs > now)
    }

    /// Replaces the access token for its audience.
    pub fn set_access(&mut self, token: AccessToken) {
        self.access.retain(|a| a.audience != token.audience);
        self.access.push(token);
    }

    /// The key the session's tokens are bound to.
    pub fn dpop_signing_key(&self) -> anyhow::Result<Option<SigningKey>> {
        self.dpop_key.as_ref().map(open_dpop_key).transpose()
    }
}

/// The key of a PKCS#8 document made by [`new_dpop_key`].
pub fn open_dpop_key(encoded: &SecretString) -> anyhow::Result<SigningKey> {
    use base64::Engine;
    let der = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.expose_secret())?,
    );
    Ok(SigningKey::from_pkcs8(Algorithm::Es256, &der)?)
}

/// A new ES256 key for binding a session's tokens, and its PKCS#8 document (base64url).
pub fn new_dpop_key() -> anyhow::Result<(SigningKey, SecretString)> {
    use base64::Engine;
    let key = SigningKey::generate(Algorithm::Es256)?;
    let der = key.to_pkcs8()?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(der);
    Ok((key, SecretString::from(encoded)))
}

/// A session read from the store and opened.
#[derive(Debug)]
pub struct Open {
    pub record: BffSession,
    pub tokens: Tokens,
}

/// The sessions of this BFF.
#[derive(Debug)]
pub struct Sessions {
    pub store: Arc<dyn Store>,
    sealer: KeySealer,
    lifetime: Duration,
}

/// Context of the sealing key's derivation: a key for nothing else.
const PURPOSE: &[u8] = b"ostiary bff session tokens";

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        secret: &SecretString,
        lifetime_secs: u32,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            sealer: KeySealer::for_purpose(secret.expose_secret().as_bytes(), PURPOSE)?,
            lifetime: Duration::seconds(i64::from(lifetime_secs)),
        })
    }

    /// Stores a new session and returns the id for the cookie (32 random bytes, base64url).
    pub async fn create(
        &self,
        sub: String,
        sid: Option<String>,
        tokens: &Tokens,
    ) -> anyhow::Result<SecretString> {
        let id = SecretString::from(random_token::<32>());
        let id_hash = SecretHash::of(id.expose_secret());
        let now = OffsetDateTime::now_utc();
        let session = BffSession {
            sealed: self.seal(&id_hash, tokens)?,
            id_hash,
            sub,
            sid,
            version: 0,
            refresh_claimed_until: None,
            created_at: now,
            expires_at: now + self.lifetime,
        };
        self.store.insert_bff_session(&session).await?;
        Ok(id)
    }

    /// The live session a cookie names, opened; `None` if there is none or it has ended.
    pub async fn find(&self, id: &str) -> anyhow::Result<Option<Open>> {
        let id_hash = SecretHash::of(id);
        let Some(record) = self.store.find_bff_session(&id_hash).await? else {
            return Ok(None);
        };
        if record.expires_at <= OffsetDateTime::now_utc() {
            self.store.delete_bff_session(&id_hash).await?;
            return Ok(None);
        }
        let opened = self
            .sealer
            .open(record.id_hash.as_bytes(), &record.sealed)
            .map(Zeroizing::new)
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok());
        let Some(tokens) = opened else {
            // Sealed under another session_secret (rotated) or damaged: the session is lost
            // to this BFF, and the user signs in again.
            tracing::warn!("a BFF session does not open with this session_secret; ended");
            self.store.delete_bff_session(&id_hash).await?;
            return Ok(None);
        };
        Ok(Some(Open { record, tokens }))
    }

    /// Stores `tokens` if the session is still at the version it was read at.
    pub async fn update(&self, open: &Open, tokens: &Tokens) -> anyhow::Result<bool> {
        let sealed = self.seal(&open.record.id_hash, tokens)?;
        Ok(self
            .store
            .update_bff_session(&open.record.id_hash, open.record.version, &sealed)
            .await?)
    }

    fn seal(&self, id_hash: &SecretHash, tokens: &Tokens) -> anyhow::Result<Vec<u8>> {
        // The plaintext tokens are overwritten before their memory is freed.
        let plain = Zeroizing::new(serde_json::to_vec(tokens)?);
        Ok(self.sealer.seal(id_hash.as_bytes(), &plain)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            refresh_token: Some(SecretString::from("rt")),
            claims: serde_json::Map::new(),
            access: Vec::new(),
            dpop_key: None,
        }
    }

    #[tokio::test]
    async fn a_session_sealed_under_another_secret_ends_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bff.db").display());
        let database = ostiary_store::Database::open(&url, 2).await.unwrap();
        database.migrate().await.unwrap();
        let sessions = |secret: &str| {
            Sessions::new(
                database.store(),
                &SecretString::from(secret.to_owned()),
                3600,
            )
            .unwrap()
        };
        let (before, after) = (sessions(&"a".repeat(32)), sessions(&"b".repeat(32)));
        let id = before
            .create("alice".into(), None, &tokens())
            .await
            .unwrap();
        let id = id.expose_secret();
        let open = before.find(id).await.unwrap().unwrap();
        assert_eq!(open.tokens.refresh_token.unwrap().expose_secret(), "rt");
        // Under another secret it does not open: the session ends, the request is not a 500.
        assert!(after.find(id).await.unwrap().is_none());
        assert!(
            before.find(id).await.unwrap().is_none(),
            "the row was not removed"
        );
    }
}
