//! What is limited and how: the kinds of credential, the rule of each kind (when a key
//! locks, for how long) and the text that names each counted key, in memory and in the
//! shared store alike.

use std::net::IpAddr;
use std::time::Duration;

/// When a key locks, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Failures inside `window` before the first lock.
    pub threshold: u32,
    /// The first lock; each further failure doubles it, up to `max_lock`.
    pub base_lock: Duration,
    pub max_lock: Duration,
    /// Failures older than this (since the last one) are forgotten.
    pub window: Duration,
}

/// What failed: decides which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential<'a> {
    Client(&'a str),
    Account(&'a str),
    /// An account on a browser that has logged into it before: the account-wide lock (which
    /// an attacker elsewhere could keep renewing) does not apply to its owner.
    KnownAccount(&'a str),
    /// A user code typed at the device verification page (RFC 8628 5.1): a wrong one is a
    /// guess at someone's pending device authorization. Limited per source only.
    UserCode,
    /// An initial access token presented at the registration endpoint (RFC 7591 3): 256
    /// random bits, so a wrong one is a mistake or probing. Limited per source only.
    RegistrationToken,
    /// A client registered without an initial access token (`OAUTH2_REGISTRATION=open`):
    /// not a failure, but each one stores a client, so a source gets a budget of them.
    OpenRegistration,
}

impl<'a> Credential<'a> {
    /// The kind and the identifier as a bounded key: anything not shaped like a client id or
    /// username shares one key, so hostile input cannot grow the map by its size.
    pub(super) fn key(self) -> (Kind, &'a str, bool) {
        let (kind, id, account_wide) = match self {
            Self::Client(id) => (Kind::Client, id, true),
            Self::Account(id) => (Kind::Account, id, true),
            Self::KnownAccount(id) => (Kind::Account, id, false),
            Self::UserCode => (Kind::UserCode, "user_code", false),
            Self::RegistrationToken => (Kind::Registration, "initial_access_token", false),
            Self::OpenRegistration => (Kind::OpenRegistration, "open_registration", false),
        };
        let plausible = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~@+".contains(&b));
        (kind, if plausible { id } else { "<invalid>" }, account_wide)
    }
}

/// Sources are addresses, except that an IPv6 address counts as its /64: one subscriber
/// usually holds a whole /64, and must not get 2^64 fresh sources.
pub(super) fn source(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// The limits for one kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_source: Rule,
    pub per_pair: Rule,
    /// Across all sources. None for clients: a client that authenticates correctly is never
    /// refused because someone elsewhere guessed at its secret.
    pub per_credential: Option<Rule>,
}

impl Limits {
    /// Login: 5 wrong passwords for one account from one address, 20 from one address, 100
    /// for one account from anywhere (then at most 5 minutes).
    pub const LOGIN: Self = Self {
        per_pair: Rule {
            threshold: 5,
            base_lock: Duration::from_secs(2),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_source: Rule {
            threshold: 20,
            base_lock: Duration::from_secs(5),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_credential: Some(Rule {
            threshold: 100,
            base_lock: Duration::from_secs(5),
            max_lock: Duration::from_secs(5 * 60),
            window: Duration::from_secs(15 * 60),
        }),
    };

    /// Client authentication: client secrets are 256 random bits, so failures are mistakes or
    /// probing; the thresholds are generous, the locks the same shape, and only sources lock.
    pub const CLIENT: Self = Self {
        per_pair: Rule {
            threshold: 10,
            base_lock: Duration::from_secs(2),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_source: Rule {
            threshold: 30,
            base_lock: Duration::from_secs(5),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_credential: None,
    };

    /// User codes: 10 wrong codes from one address lock it for 30 seconds, doubling up to 15
    /// minutes. With codes drawn from 20^8 and living 10 minutes, a source gets a few dozen
    /// guesses an hour against every pending code at once.
    pub const USER_CODE: Self = Self {
        per_pair: Rule {
            threshold: 10,
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_source: Rule {
            threshold: 10,
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        },
        per_credential: None,
    };
}

impl Limits {
    /// Open registration: 20 clients from one address within an hour, then a minute's
    /// wait, doubling up to an hour.
    pub const OPEN_REGISTRATION: Self = Self {
        per_pair: Rule {
            threshold: 20,
            base_lock: Duration::from_secs(60),
            max_lock: Duration::from_secs(3600),
            window: Duration::from_secs(3600),
        },
        per_source: Rule {
            threshold: 20,
            base_lock: Duration::from_secs(60),
            max_lock: Duration::from_secs(3600),
            window: Duration::from_secs(3600),
        },
        per_credential: None,
    };
}

/// What kind of credential failed: its rules, and the first part of its keys' text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Client,
    Account,
    UserCode,
    Registration,
    OpenRegistration,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Account => "account",
            Self::UserCode => "user_code",
            Self::Registration => "registration",
            Self::OpenRegistration => "open_registration",
        }
    }

    pub(super) fn limits(self) -> Limits {
        match self {
            Self::Client | Self::Registration => Limits::CLIENT,
            Self::Account => Limits::LOGIN,
            Self::UserCode => Limits::USER_CODE,
            Self::OpenRegistration => Limits::OPEN_REGISTRATION,
        }
    }
}

/// The keys a failure of `credential` from `from` counts against, each with its rule, as
/// text: `KIND|source|ADDRESS`, `KIND|pair|ID|ADDRESS` and `KIND|credential|ID`, ID being
/// the identifier's [`digest`] (of `<invalid>` for one not shaped as one,
/// see [`Credential::key`]).
pub(super) fn keys(credential: Credential<'_>, from: Option<IpAddr>) -> Vec<(String, Rule)> {
    let (kind, id, account_wide) = credential.key();
    let limits = kind.limits();
    let kind_name = kind.as_str();
    let mut keys = Vec::with_capacity(3);
    if let Some(ip) = from.map(source) {
        keys.push((format!("{kind_name}|source|{ip}"), limits.per_source));
        keys.push((pair_key(credential, ip), limits.per_pair));
    }
    if let Some(rule) = limits.per_credential.filter(|_| account_wide) {
        keys.push((format!("{kind_name}|credential|{}", digest(id)), rule));
    }
    keys
}

/// The (credential, source) key: the one a success forgets.
pub(super) fn pair_key(credential: Credential<'_>, ip: IpAddr) -> String {
    let (kind, id, _) = credential.key();
    format!("{}|pair|{}|{}", kind.as_str(), digest(id), source(ip))
}

/// An identifier as it goes into a key: 96 bits of its SHA-256, base64url. Keys are stored
/// and announced on PostgreSQL, and what is typed as a username is sometimes a password.
fn digest(id: &str) -> String {
    use base64::Engine;
    let hash = ostiary_core::secret::SecretHash::of(id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..12])
}

impl Rule {
    /// The lock `failures` inside the window earn: none below the threshold, then
    /// `base_lock` doubling with each further failure, at most `max_lock`.
    pub(super) fn lock_for(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.threshold)?;
        Some(
            self.base_lock
                .saturating_mul(1 << over.min(20))
                .min(self.max_lock),
        )
    }
}
