//! Strict validation (RFC 8725): a `Validator` cannot be built without the decisions the
//! caller must make (profile, issuer, audience, keys), and every check must pass.

use serde_json::{Map, Value};

use crate::header::{self, EmbeddedKey};
use crate::{Algorithm, KeySet, b64, strict_json};

/// Longest compact token accepted before any parsing, in bytes (16 KiB).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;
/// Clock skew tolerated on `exp`, `nbf` and `iat` unless the caller sets another, in seconds.
pub const DEFAULT_LEEWAY_SECS: i64 = 30;
/// The largest leeway [`Validator::with_leeway`] accepts, in seconds: clock skew beyond this
/// is a configuration mistake, not tolerance.
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
    /// RFC 7523 client assertion: no `typ`, `JWT` or `client-authentication+jwt`; `iss` = `sub` =
    /// the client; `aud`, `exp`, `jti`.
    ClientAssertion,
    /// RFC 9101 request object: `typ` `oauth-authz-req+jwt` (section 10.8); `iss` (the
    /// client), `aud` (the authorization server), `exp`, `nbf` and `jti`, the rest being the
    /// authorization request's parameters.
    RequestObject,
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
            Self::IdToken => matches!(typ.as_deref(), None | Some("jwt")),
            // draft-ietf-oauth-rfc7523bis types assertions explicitly; RFC 7523 leaves `typ` out.
            Self::ClientAssertion => matches!(
                typ.as_deref(),
                None | Some("jwt") | Some("client-authentication+jwt")
            ),
            Self::LogoutToken => typ.as_deref() == Some("logout+jwt"),
            Self::RequestObject => typ.as_deref() == Some("oauth-authz-req+jwt"),
        }
    }

    fn required_claims(self) -> &'static [&'static str] {
        match self {
            Self::AccessToken => &["iss", "sub", "aud", "exp", "iat", "jti", "client_id"],
            Self::IdToken => &["iss", "sub", "aud", "exp", "iat"],
            Self::LogoutToken => &["iss", "aud", "iat", "exp", "jti", "events"],
            Self::ClientAssertion => &["iss", "sub", "aud", "exp", "jti"],
            Self::RequestObject => &["iss", "aud", "exp", "nbf", "jti"],
        }
    }

    /// Claims whose presence marks a token as another kind.
    fn forbidden_claims(self) -> &'static [&'static str] {
        match self {
            Self::AccessToken => &["nonce", "events"],
            Self::IdToken => &["events", "client_id", "scope"],
            Self::LogoutToken => &["nonce"],
            Self::ClientAssertion => &["nonce", "events", "client_id", "scope"],
            Self::RequestObject => &["events"],
        }
    }
}

/// Why a token was refused: the first check that failed, in the order header, key,
/// signature, claims. Any of them means "do not trust this token"; the variants are for logs
/// and for picking a fixed description, and none carries more than a few bytes of the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Longer than the validator's maximum (16 KiB unless changed with
    /// [`Validator::with_max_len`]); nothing was parsed.
    #[error("token is larger than allowed")]
    TooLarge,
    /// Not three base64url segments, or a header or payload that is not one JSON object
    /// without duplicate member names (RFC 7515 section 5.2); the reason is for logs.
    #[error("token is malformed: {0}")]
    Malformed(String),
    /// The header has no `alg` (RFC 7515 section 4.1.1).
    #[error("header has no alg")]
    MissingAlgorithm,
    /// The header's `alg` is not one of [`Algorithm`] (`none` included); at most its first
    /// 32 characters are kept.
    #[error("algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    /// A known algorithm that this validator does not accept: no key of that algorithm, or
    /// narrowed out by [`Validator::allow_only`] (RFC 8725 section 3.1).
    #[error("algorithm {0} is not allowed here")]
    AlgorithmNotAllowed(Algorithm),
    /// A header parameter that is never honoured: `jku`, `x5u`, `x5c`, `zip`, `crit`, `b64`,
    /// or an embedded `jwk` outside DPoP proofs.
    #[error("header parameter {0} is refused")]
    ForbiddenHeader(&'static str),
    /// A header parameter of the wrong JSON type (e.g. a numeric `kid`), or a DPoP proof's
    /// missing or invalid `jwk`.
    #[error("header parameter {0} has the wrong type")]
    InvalidHeader(&'static str),
    /// The header has no `kid`: keys are looked up by `kid` (without one only where the
    /// validator allows it and the set holds exactly one key of the header's algorithm).
    #[error("header has no kid")]
    MissingKid,
    /// No key in the set has the header's `kid` (or the `kid` is empty or over 128 bytes).
    /// With a remote key set this triggers a refetch, at most once per interval.
    #[error("no key with that kid")]
    UnknownKey,
    /// The header's `alg` is not the algorithm the key named by `kid` is bound to.
    #[error("header alg does not match the key's algorithm")]
    AlgorithmMismatch,
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
    /// The header's `typ` is not the one of the expected [`Profile`] (RFC 8725 section 3.11).
    #[error("typ does not match the expected kind of token")]
    WrongType,
    /// `iss` is not exactly the configured issuer.
    #[error("issuer does not match")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("audience does not match")]
    WrongAudience,
    /// `now` is at or past `exp` plus the leeway.
    #[error("token has expired")]
    Expired,
    /// `nbf` is later than `now` plus the leeway.
    #[error("token is not yet valid")]
    NotYetValid,
    /// `iat` is later than `now` plus the leeway.
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// A claim the [`Profile`] requires is absent.
    #[error("claim {0} is required")]
    MissingClaim(&'static str),
    /// A claim of the wrong type or value, or one that marks another kind of token (e.g.
    /// `nonce` in an access token).
    #[error("claim {0} is invalid or belongs to another kind of token")]
    InvalidClaim(&'static str),
}

/// The payload of a validated token: the registered claims (RFC 7519 section 4.1) parsed and
/// checked, and every claim as JSON in `all`. Times are NumericDate: whole seconds since the
/// Unix epoch, UTC (fractions are truncated).
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Issuer: equal to the validator's issuer.
    pub iss: String,
    /// Subject: the user (or, for client credentials and assertions, the client); required by
    /// every profile except logout tokens, which may carry `sid` instead.
    pub sub: Option<String>,
    /// Audiences: a string `aud` becomes one element; contains the validator's audience unless
    /// the caller checks it.
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: Option<i64>,
    /// Issued at, Unix seconds.
    pub iat: Option<i64>,
    /// Not before, Unix seconds.
    pub nbf: Option<i64>,
    /// Token ID: unique per token; what revocation lists and replay caches key on.
    pub jti: Option<String>,
    /// Every claim, registered ones included.
    pub all: Map<String, Value>,
}

impl Claims {
    /// A string claim by name, e.g. `client_id`, `scope` (space-separated, RFC 9068 section
    /// 2.2.3) or `sid`; `None` if absent or not a string.
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

/// Validates one kind of compact JWS ([`Profile`]) from one issuer for one audience against a
/// key set, the way the authorization server validates its own tokens.
///
/// ```
/// use ostiary_jwt::{Algorithm, KeySet, Profile, SigningKey, Validator};
///
/// let key = SigningKey::generate(Algorithm::Es256).unwrap();
/// let claims = serde_json::json!({
///     "iss": "https://auth.example.com", "sub": "alice", "aud": "https://api.example.com",
///     "exp": 1_900_000_060, "iat": 1_900_000_000, "jti": "t1", "client_id": "web",
/// });
/// let token = ostiary_jwt::encode(&key, "at+jwt", &claims).unwrap();
/// let validator = Validator::new(
///     Profile::AccessToken,
///     "https://auth.example.com",
///     "https://api.example.com",
///     KeySet::new([key.verifying_key().clone()]),
/// );
/// let checked = validator.validate(&token, 1_900_000_010).unwrap();
/// assert_eq!(checked.sub.as_deref(), Some("alice"));
/// assert!(validator.validate(&token, 1_900_000_100).is_err()); // expired
/// ```
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
    kid_optional: bool,
}

impl Validator {
    /// Everything RFC 8725 says a validator must decide. The allowed algorithms default to
    /// those of the key set; the leeway is 30 seconds and the size limit 16 KiB.
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
            kid_optional: false,
        }
    }

    /// Accepts tokens past `exp`, for one use only: an ID token presented back to its issuer
    /// as `id_token_hint` at logout, which OpenID Connect RP-Initiated Logout 1.0 section 2
    /// says should be honoured after it expired. Everything else is still checked.
    pub fn accepting_expired(mut self) -> Self {
        self.check_expiry = false;
        self
    }

    /// Accepts a header without `kid` when the key set holds exactly one key of the header's
    /// algorithm: for a client's own key set (RFC 7523 client assertions, RFC 9101 request
    /// objects), where `kid` is optional (RFC 7515 4.1.4) and many clients leave it out. The
    /// key is still the registered one and still bound to its algorithm; with two candidate
    /// keys the token is refused as [`ValidationError::MissingKid`].
    pub fn kid_optional(mut self) -> Self {
        self.kid_optional = true;
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

    /// Clock skew tolerance in seconds, clamped to `0..=`[`MAX_LEEWAY_SECS`].
    pub fn with_leeway(mut self, seconds: i64) -> Self {
        self.leeway = seconds.clamp(0, MAX_LEEWAY_SECS);
        self
    }

    /// The longest token accepted, in bytes; longer ones are [`ValidationError::TooLarge`]
    /// before any decoding.
    pub fn with_max_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// The key set tokens are checked against.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Validates `token` (compact serialization) at `now`, Unix seconds: size, header, key,
    /// signature, then the claims of the profile, issuer, audience and times. The claims are
    /// returned only if every check passed.
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
        let key = match header.kid {
            Some(kid) => self.keys.get(&kid).ok_or(ValidationError::UnknownKey)?,
            None if self.kid_optional => self
                .keys
                .only_key_for(header.alg)
                .ok_or(ValidationError::MissingKid)?,
            None => return Err(ValidationError::MissingKid),
        };
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

#[cfg(test)]
mod tests {
    use super::Profile;

    /// Explicit typing keeps the kinds apart (RFC 8725 3.11): the rfc7523bis type is an
    /// assertion's and nothing else's.
    #[test]
    fn each_typ_belongs_to_its_profile() {
        let profiles = [
            Profile::AccessToken,
            Profile::IdToken,
            Profile::LogoutToken,
            Profile::ClientAssertion,
            Profile::RequestObject,
        ];
        for (typ, takes) in [
            (
                Some("client-authentication+jwt"),
                &[Profile::ClientAssertion][..],
            ),
            (
                Some("application/client-authentication+jwt"),
                &[Profile::ClientAssertion],
            ),
            (Some("at+jwt"), &[Profile::AccessToken]),
            (Some("JWT"), &[Profile::IdToken, Profile::ClientAssertion]),
            (None, &[Profile::IdToken, Profile::ClientAssertion]),
        ] {
            for profile in profiles {
                assert_eq!(
                    profile.typ_matches(typ),
                    takes.contains(&profile),
                    "{typ:?} under {profile:?}"
                );
            }
        }
    }
}
