//! The bench: a `TokenService` built as the server builds it, over a temporary SQLite
//! database, with a `ManualClock`, ES256 keys, two clients and a user.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::admin;
use ostiary_core::client::{
    Audience, Client, ClientId, ClientRegistration, GrantType, RedirectUri, Scope, UriPolicy,
};
use ostiary_core::clock::ManualClock;
use ostiary_core::grant::AuthorizationCode;
use ostiary_core::keys::{KeyManager, KeyRing};
use ostiary_core::password::{Password, PasswordHasher};
use ostiary_core::secret::SecretHash;
use ostiary_core::token::{
    Confirmation, GrantError, Issued, TokenRequest, TokenService, TokenSettings,
};
use ostiary_core::user::{UserId, Username};
use ostiary_core::{Clock, ErrorCode, Store};
use ostiary_jwt::Algorithm;
use ostiary_store::Database;
use secrecy::SecretString;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

pub const ISSUER: &str = "https://id.example.test";
pub const API: &str = "https://api.example.test";
pub const BILLING: &str = "https://billing.example.test";
pub const REDIRECT_URI: &str = "https://app.example.test/cb";
/// RFC 7636 appendix B's verifier.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXk1-mu1JNsMAqR8nk";
pub const REFRESH_GRACE: Duration = Duration::seconds(10);
pub const CODE_LIFETIME: Duration = Duration::seconds(60);

pub struct Bench {
    pub tokens: TokenService,
    /// The signing keys the token service uses (the authorizer verifies `id_token_hint`s
    /// with them).
    pub keys: Arc<KeyRing>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    /// Confidential, `client_credentials` only: scopes `orders:read orders:write`, audiences
    /// `API` and `BILLING`.
    pub machine: Client,
    /// Confidential, `authorization_code` and `refresh_token`: scopes `openid
    /// offline_access orders:read orders:write`, audiences `API` and `BILLING`, ES256 ID
    /// tokens.
    pub web: Client,
    pub user: UserId,
    _db: Database,
    _dir: tempfile::TempDir,
}

impl Bench {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("core.db").display());
        let db = Database::open(&url, 4).await.unwrap();
        db.migrate().await.unwrap();
        let store = db.store();
        let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let manager = KeyManager::new(
            store.clone(),
            b"a root secret of more than thirty-two bytes, for tests",
            clock.clone(),
            Duration::hours(1),
        )
        .unwrap();
        let keys = Arc::new(
            KeyRing::load(manager, ISSUER.to_owned(), vec![Algorithm::Es256], None)
                .await
                .unwrap(),
        );
        let tokens = TokenService::new(
            store.clone(),
            keys.clone(),
            clock.clone(),
            TokenSettings {
                issuer: ISSUER.to_owned(),
                access_token_alg: Algorithm::Es256,
                access_token_lifetime: Duration::minutes(5),
                client_cache_ttl: std::time::Duration::ZERO,
                refresh_token_lifetime: Duration::days(1),
                refresh_grace: REFRESH_GRACE,
                client_assertion_audiences: vec![ISSUER.to_owned(), format!("{ISSUER}/token")],
                require_mfa: false,
            },
        );
        let machine = register(
            &*store,
            &*clock,
            ClientRegistration {
                name: "Machine".into(),
                client_id: Some(ClientId::parse("machine").unwrap()),
                grant_types: vec![GrantType::ClientCredentials],
                scopes: scopes(&["orders:read", "orders:write"]),
                audiences: audiences(&[API, BILLING]),
                ..ClientRegistration::default()
            },
        )
        .await;
        let web = register(&*store, &*clock, web_registration("web")).await;
        let user = admin::create_user(
            &*store,
            &PasswordHasher::insecure_fast_for_tests(),
            &*clock,
            Username::parse("alice").unwrap(),
            None,
            Password::new(SecretString::from("correct horse battery")).unwrap(),
        )
        .await
        .unwrap()
        .id;
        Self {
            tokens,
            keys,
            store,
            clock,
            machine,
            web,
            user,
            _db: db,
            _dir: dir,
        }
    }

    /// Registers another client.
    pub async fn client(&self, registration: ClientRegistration) -> Client {
        register(&*self.store, &*self.clock, registration).await
    }

    /// A code for `client` and the bench's user, as the authorization endpoint stores one:
    /// the given scopes and resources, `REDIRECT_URI`, the S256 challenge of `VERIFIER`,
    /// nonce `n-0S6`, valid for `CODE_LIFETIME`. Returns the code and its grant id.
    pub async fn code(
        &self,
        client: &Client,
        scope: &[&str],
        resources: &[&str],
    ) -> (String, String) {
        let code = format!("code-{}", uuid::Uuid::new_v4());
        let grant_id = format!("grant-{}", uuid::Uuid::new_v4());
        let now = self.clock.now_seconds();
        let record = AuthorizationCode {
            code_hash: SecretHash::of(&code),
            grant_id: grant_id.clone(),
            client_id: client.id.clone(),
            user_id: self.user,
            sid: "sid-1".into(),
            redirect_uri: REDIRECT_URI.into(),
            code_challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER)),
            nonce: Some("n-0S6".into()),
            scopes: scopes(scope),
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
            auth_time: now,
            expires_at: now + CODE_LIFETIME,
            consumed_at: None,
            dpop_jkt: None,
            mfa: false,
        };
        // The authorization endpoint stores a code only for a stored session.
        let session = ostiary_core::session::Session {
            id_hash: SecretHash::of("cookie-sid-1"),
            sid: "sid-1".into(),
            user_id: self.user,
            auth_time: now,
            mfa: false,
            last_seen: now,
            expires_at: now + Duration::hours(8),
        };
        match self.store.insert_session(&session).await {
            Ok(()) | Err(ostiary_core::StoreError::Conflict(_)) => {}
            Err(e) => panic!("storing the session: {e}"),
        }
        assert!(self.store.insert_code(&record).await.unwrap());
        (code, grant_id)
    }

    /// Redeems `code` for `client` with the right redirect URI and verifier.
    pub async fn redeem(
        &self,
        client: &Client,
        code: &str,
        resources: &[String],
    ) -> Result<Issued, GrantError> {
        self.redeem_with_dpop(client, code, resources, None).await
    }

    /// [`Bench::redeem`], with the key of a verified DPoP proof.
    pub async fn redeem_with_dpop(
        &self,
        client: &Client,
        code: &str,
        resources: &[String],
        dpop: Option<&Confirmation>,
    ) -> Result<Issued, GrantError> {
        let request = TokenRequest::AuthorizationCode {
            code,
            redirect_uri: Some(REDIRECT_URI),
            code_verifier: Some(VERIFIER),
            resources,
        };
        self.tokens.exchange(client, request, dpop).await
    }

    /// Presents `refresh_token` for `client`.
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
        resources: &[String],
    ) -> Result<Issued, GrantError> {
        self.refresh_with_dpop(client, refresh_token, scope, resources, None)
            .await
    }

    /// [`Bench::refresh`], with the key of a verified DPoP proof.
    pub async fn refresh_with_dpop(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
        resources: &[String],
        dpop: Option<&Confirmation>,
    ) -> Result<Issued, GrantError> {
        let request = TokenRequest::RefreshToken {
            refresh_token,
            scope,
            resources,
        };
        self.tokens.exchange(client, request, dpop).await
    }

    /// The web client's first tokens for `scope` (with a refresh token).
    pub async fn signed_in(&self, scope: &[&str]) -> Issued {
        let (code, _) = self.code(&self.web, scope, &[]).await;
        self.redeem(&self.web, &code, &[]).await.unwrap()
    }
}

/// A confidential web client like the bench's `web`, under another id.
pub fn web_registration(id: &str) -> ClientRegistration {
    ClientRegistration {
        name: format!("Web {id}"),
        client_id: Some(ClientId::parse(id).unwrap()),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec![
            RedirectUri::parse(
                REDIRECT_URI,
                UriPolicy {
                    allow_insecure_http: false,
                },
            )
            .unwrap(),
        ],
        scopes: scopes(&["openid", "offline_access", "orders:read", "orders:write"]),
        audiences: audiences(&[API, BILLING]),
        id_token_alg: Some(Algorithm::Es256),
        ..ClientRegistration::default()
    }
}

async fn register(
    store: &dyn Store,
    clock: &dyn Clock,
    registration: ClientRegistration,
) -> Client {
    admin::register_client(store, clock, registration)
        .await
        .unwrap()
        .client
}

pub fn scopes(names: &[&str]) -> Vec<Scope> {
    names.iter().map(|s| Scope::parse(s).unwrap()).collect()
}

fn audiences(names: &[&str]) -> Vec<Audience> {
    names.iter().map(|s| s.parse().unwrap()).collect()
}

/// The claims of a JWT, unverified (the service signed it a moment ago).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The refused error's code and description, whichever way it was refused.
pub fn refused(result: Result<Issued, GrantError>) -> (ErrorCode, String) {
    let error = result.unwrap_err().into_error();
    (error.code(), error.description().to_owned())
}

/// The refresh token of a response that must have one.
pub fn refresh_token(issued: &Issued) -> String {
    issued.response.refresh_token.clone().unwrap()
}

/// Audit events kept in memory, in order: what a service recorded.
#[derive(Debug, Default)]
pub struct Recorded(std::sync::Mutex<Vec<ostiary_core::audit::AuditEvent>>);

#[async_trait::async_trait]
impl ostiary_core::audit::AuditSink for Recorded {
    async fn record(&self, event: ostiary_core::audit::AuditEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorded {
    pub fn events(&self) -> Vec<ostiary_core::audit::AuditEvent> {
        self.0.lock().unwrap().clone()
    }

    pub fn types(&self) -> Vec<ostiary_core::audit::AuditEventType> {
        self.events().iter().map(|e| e.event).collect()
    }
}
