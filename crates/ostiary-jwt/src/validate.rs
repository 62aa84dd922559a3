//! Strict validation (RFC 8725): a `Validator` cannot be built without the decisions the
//! caller must make (profile, issuer, audience, keys), and every check must pass.

use serde_json::{Map, Value};

use crate::header::{self, EmbeddedKey};
use crate::{Algorithm, KeySet, b64, strict_json};

/// Longest compact token accepted before any parsing.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;
pub const DEFAULT_LEEWAY_SECS: i64 = 30;
/// Clock skew beyond this is a configuration mistake, not tolerance.
pub const MAX_LEEWAY_SECS: i64 = 300;

/// The kinds of JWT, with mutually exclusive rules (RFC 8725 3.11, 3.12): a token of one kind
/// never validates as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// RFC 9068: `typ` `at+jwt`; `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`.
    AccessToken,
    /// OpenID Connect Core: no `typ` or `JWT`; `iss`, `sub`, `aud`, `exp`, `iat`.
    IdToken,
    /// OpenID Back-Channel Logout 1.0 2.4: `typ` `logout+jwt`; `iss`, `aud`, `iat`, `exp`, `jti`,
    /// `events` holding the back-channel logout event, and `sub` or `sid`.
    LogoutToken,
    /// RFC 7523 client assertion: `iss` = `sub` = the client; `aud`, `exp`, `jti`.
    ClientAssertion,
}

impl Profile {
    fn typ_matches(self, typ: Option<&str>) -> bool {
        // RFC 7515 4.1.9: the "application/" prefix may be omitted; media types are
        // case-insensitive.
        let typ = typ.map(|t| {
            let t = t.to_ascii_lowercase();
            t.strip_prefix("application/")
                .map(str::to_owned)
                .unwrap_or(t)
        });
        match self {
            Self::AccessToken => typ.as_deref() == Some("at+jwt"),
            Self::IdToken | Self::ClientAssertion => matches!(typ.as_deref(), None | Some("jwt")),
            Self::LogoutToken => typ.as_deref() == Some("logout+jwt"),
        }
    }

    fn required_claims(self) -> &'static [&'static str] {
        match self {
            Self::AccessToken => &["iss", "sub", "aud", "exp", "iat", "jti", "client_id"],
            Self::IdToken => &["iss", "sub", "aud", "exp", "iat"],
            Self::LogoutToken => &["iss", "aud", "iat", "exp", "jti", "events"],
            Self::ClientAssertion => &["iss", "sub", "aud", "exp", "jti"],
        }
    }

    /// Claims whose presence marks a token as another kind.
    fn forbidden_claims(self) -> &'static [&'static str] {
        match self {
            Self::AccessToken => &["nonce", "events"],
            Self::IdToken => &["events", "client_id", "scope"],
            Self::LogoutToken => &["nonce"],
            Self::ClientAssertion => &["nonce", "events", "client_id", "scope"],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("token is larger than allowed")]
    TooLarge,
    #[error("token is malformed: {0}")]
    Malformed(String),
    #[error("header has no alg")]
    MissingAlgorithm,
    #[error("algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("algorithm {0} is not allowed here")]
    AlgorithmNotAllowed(Algorithm),
    #[error("header parameter {0} is refused")]
    ForbiddenHeader(&'static str),
    #[error("header parameter {0} has the wrong type")]
    InvalidHeader(&'static str),
    #[error("header has no kid")]
    MissingKid,
    #[error("no key with that kid")]
    UnknownKey,
    #[error("header alg does not match the key's algorithm")]
    AlgorithmMismatch,
    #[error("signature does not verify")]
    BadSignature,
    #[error("typ does not match the expected kind of token")]
    WrongType,
    #[error("issuer does not match")]
    WrongIssuer,
    #[error("audience does not match")]
    WrongAudience,
    #[error("token has expired")]
    Expired,
    #[error("token is not yet valid")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("claim {0} is required")]
    MissingClaim(&'static str),
    #[error("claim {0} is invalid or belongs to another kind of token")]
    InvalidClaim(&'static str),
}

/// The payload of a validated token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
    /// Every claim, registered ones included.
    pub all: Map<String, Value>,
}

impl Claims {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.all.get(name).and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AudienceRule {
    Exactly(String),
    /// The caller checks audience itself (the authorization server introspecting its own
    /// tokens). Chosen explicitly; never a default.
    CheckedByCaller,
}

#[derive(Debug, Clone)]
pub struct Validator {
    profile: Profile,
    issuer: String,
    audience: AudienceRule,
    keys: KeySet,
    /// The algorithms accepted: those of the key set, narrowed by `pinned`.
    allowed: Vec<Algorithm>,
    pinned: Option<Vec<Algorithm>>,
    leeway: i64,
    max_len: usize,
    check_expiry: bool,
}

impl Validator {
    /// Everything RFC 8725 says a validator must decide. The allowed algorithms default to
    /// those of the key set.
    pub fn new(
        profile: Profile,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: KeySet,
    ) -> Self {
        Self {
            profile,
            issuer: issuer.into(),
            audience: AudienceRule::Exactly(audience.into()),
            allowed: keys.algorithms(),
            pinned: None,
            keys,
            leeway: DEFAULT_LEEWAY_SECS,
            max_len: DEFAULT_MAX_TOKEN_LEN,
            check_expiry: true,
        }
    }

    /// Accepts tokens past `exp`, for one use only: an ID token presented back to its issuer
    /// as `id_token_hint` at logout, which OpenID Connect RP-Initiated Logout 1.0 section 2
    /// says should be honoured after it expired. Everything else is still checked.
    pub fn accepting_expired(mut self) -> Self {
        self.check_expiry = false;
        self
    }

    /// For the authorization server's own introspection, which decides per caller which
    /// audiences it may learn about.
    pub fn audience_checked_by_caller(mut self) -> Self {
        self.audience = AudienceRule::CheckedByCaller;
        self
    }

    /// Narrows the algorithms accepted (never widens beyond the keys'), now and after
    /// `with_keys`.
    pub fn allow_only(mut self, algorithms: &[Algorithm]) -> Self {
        self.allowed.retain(|a| algorithms.contains(a));
        self.pinned = Some(algorithms.to_vec());
        self
    }

    /// The same rules over another key set (a refreshed JWKS).
    pub fn with_keys(&self, keys: KeySet) -> Self {
        let mut allowed = keys.algorithms();
        if let Some(pinned) = &self.pinned {
            allowed.retain(|a| pinned.contains(a));
        }
        Self {
            keys,
            allowed,
            ..self.clone()
        }
    }

    /// Clock skew tolerance, capped at `MAX_LEEWAY_SECS`.
    pub fn with_leeway(mut self, seconds: i64) -> Self {
        self.leeway = seconds.clamp(0, MAX_LEEWAY_SECS);
        self
    }

    pub fn with_max_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Validates `token` at Unix time `now`.
    pub fn validate(&self, token: &str, now: i64) -> Result<Claims, ValidationError> {
        if token.len() > self.max_len {
            return Err(ValidationError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ValidationError::Malformed("expected three segments".into()));
        };
        let decode = |part: &str, what: &str| {
            b64::decode(part)
                .ok_or_else(|| ValidationError::Malformed(format!("{what} is not base64url")))
        };
        let header = header::parse(&decode(h64, "header")?, EmbeddedKey::Refused)?;
        if !self.allowed.contains(&header.alg) {
            return Err(ValidationError::AlgorithmNotAllowed(header.alg));
        }
        if !self.profile.typ_matches(header.typ.as_deref()) {
            return Err(ValidationError::WrongType);
        }
        let kid = header.kid.ok_or(ValidationError::MissingKid)?;
        let key = self.keys.get(&kid).ok_or(ValidationError::UnknownKey)?;
        if key.alg() != header.alg {
            return Err(ValidationError::AlgorithmMismatch);
        }
        let signature = decode(s64, "signature")?;
        let signed = &token[..h64.len() + 1 + p64.len()];
        if !key.verify(signed.as_bytes(), &signature) {
            return Err(ValidationError::BadSignature);
        }
        let payload = strict_json::parse_object(&decode(p64, "payload")?)
            .map_err(ValidationError::Malformed)?;
        self.check_claims(payload, now)
    }

    fn check_claims(&self, all: Map<String, Value>, now: i64) -> Result<Claims, ValidationError> {
        for name in self.profile.required_claims() {
            if !all.contains_key(*name) {
                return Err(ValidationError::MissingClaim(name));
            }
        }
        if let Some(name) = self
            .profile
            .forbidden_claims()
            .iter()
            .find(|n| all.contains_key(**n))
        {
            return Err(ValidationError::InvalidClaim(name));
        }
        let claims = Claims {
            iss: string_claim(&all, "iss")?.ok_or(ValidationError::MissingClaim("iss"))?,
            sub: string_claim(&all, "sub")?,
            aud: audience_claim(&all)?,
            exp: date_claim(&all, "exp")?,
            iat: date_claim(&all, "iat")?,
            nbf: date_claim(&all, "nbf")?,
            jti: string_claim(&all, "jti")?,
            all: Map::new(),
        };
        if claims.iss != self.issuer {
            return Err(ValidationError::WrongIssuer);
        }
        if let AudienceRule::Exactly(expected) = &self.audience
            && !claims.aud.iter().any(|a| a == expected)
        {
            return Err(ValidationError::WrongAudience);
        }
        if self.check_expiry
            && claims
                .exp
                .is_some_and(|exp| now >= exp.saturating_add(self.leeway))
        {
            return Err(ValidationError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(ValidationError::NotYetValid);
        }
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(self.leeway))
        {
            return Err(ValidationError::IssuedInFuture);
        }
        if self.profile == Profile::ClientAssertion
            && claims.sub.as_deref() != Some(claims.iss.as_str())
        {
            return Err(ValidationError::InvalidClaim("sub"));
        }
        if self.profile == Profile::LogoutToken {
            check_logout_claims(&all)?;
        }
        for name in ["client_id", "scope", "sid"] {
            if all.get(name).is_some_and(|v| !v.is_string()) {
                return Err(ValidationError::InvalidClaim(name));
            }
        }
        Ok(Claims { all, ..claims })
    }
}

const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn check_logout_claims(all: &Map<String, Value>) -> Result<(), ValidationError> {
    let event_ok = all
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !event_ok {
        return Err(ValidationError::InvalidClaim("events"));
    }
    if !(all.contains_key("sub") || all.contains_key("sid")) {
        return Err(ValidationError::MissingClaim("sub"));
    }
    Ok(())
}

fn string_claim(
    all: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, ValidationError> {
    match all.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ValidationError::InvalidClaim(name)),
    }
}

fn date_claim(
    all: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, ValidationError> {
    match all.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or(ValidationError::InvalidClaim(name)),
        Some(_) => Err(ValidationError::InvalidClaim(name)),
    }
}

fn audience_claim(all: &Map<String, Value>) -> Result<Vec<String>, ValidationError> {
    let invalid = ValidationError::InvalidClaim("aud");
    match all.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(invalid.clone()))
            .collect(),
        Some(_) => Err(invalid),
    }
}
