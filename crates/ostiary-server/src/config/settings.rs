//! The table of every setting: its name, meaning, accepted values, default and whether it is
//! a secret. Parsing (`Config::from_sources`) takes its defaults from here and
//! `docs/configuration.md` is generated from it, so the two cannot disagree.
//!
//! A new setting is one row here (in the section where an operator would look for it), its
//! parsing in `Config::from_sources`, a line in `ostiary.example.toml`, and the regenerated
//! reference (`ostiary config-reference > docs/configuration.md`).

use self::DefaultValue::{Unset, Value};

/// One setting, by its name in the TOML file (nested tables join with `_`); the environment
/// variable is the upper-cased name with the `OAUTH2_` prefix.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The name in the file: `issuer`, `http_body_limit_bytes` (or `body_limit_bytes` in an
    /// `[http]` table).
    pub name: &'static str,
    /// The heading it is listed under in the reference.
    pub section: &'static str,
    /// What it accepts (Markdown).
    pub values: &'static str,
    /// What applies when it is not set.
    pub default: DefaultValue,
    /// A secret: it may instead be read from the file that `OAUTH2_<NAME>_FILE` names, and
    /// belongs in the environment or such a file, never in the TOML file.
    pub secret: bool,
    /// What it does (Markdown, one paragraph).
    pub doc: &'static str,
}

/// What a setting is when neither the file nor the environment gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// This value, parsed exactly as if it had been given.
    Value(&'static str),
    /// No value: the text says what the server does then (Markdown).
    Unset(&'static str),
}

impl Setting {
    /// The default value, if the setting has one to parse.
    pub fn default_value(&self) -> Option<&'static str> {
        match self.default {
            Value(value) => Some(value),
            Unset(_) => None,
        }
    }
}

/// The setting named `name`, if there is one.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

const SERVER: &str = "Server";
const SECRETS: &str = "Secrets";
const DATABASE: &str = "Database";
const PASSWORDS: &str = "Password hashing";
const HTTP: &str = "HTTP connections and requests";
const TOKENS: &str = "Tokens and signing keys";
const SESSIONS: &str = "Login sessions";
const PROXIES: &str = "Proxies, limits and CORS";
const AUDIT: &str = "Audit trail";
const REGISTRATION: &str = "Client registration";

const SWITCH: &str = "`on` or `off` (also `true`/`false`, `1`/`0`)";
const SECONDS_AT_LEAST_1: &str = "whole seconds, at least 1";

/// Every setting, in the order of the reference.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "env",
        section: SERVER,
        values: "`development` or `production`",
        default: Value("development"),
        secret: false,
        doc: "`production` refuses to start with a missing, short (< 32 characters) or \
              well-known default `OAUTH2_JWT_SECRET`, a missing or malformed \
              `OAUTH2_SESSION_KEY`, a non-https issuer, insecure cookies, or rate limits, \
              metrics or the audit trail turned off; each refusal names the variable and how \
              to fix it. `development` warns about the same things instead and fills the \
              missing secrets (see below). `ostiary check-config` runs these checks without \
              starting.",
    },
    Setting {
        name: "issuer",
        section: SERVER,
        values: "an absolute `https` URL (`http` is refused in production) with a host and no \
                 query, fragment or credentials",
        default: Value("http://127.0.0.1:8080"),
        secret: false,
        doc: "The issuer identifier, byte for byte in every token and in discovery. An issuer \
              with a path (`https://id.example.com/tenant`) is advertised with its endpoints \
              under that path, while routes are served at the root of the listener: a \
              reverse proxy in front strips the path.",
    },
    Setting {
        name: "bind",
        section: SERVER,
        values: "an IP address and port (`127.0.0.1:8080`, `0.0.0.0:8080`, `[::]:8080`)",
        default: Value("127.0.0.1:8080"),
        secret: false,
        doc: "The public listener (plain HTTP; TLS is terminated by a proxy in front).",
    },
    Setting {
        name: "metrics_bind",
        section: SERVER,
        values: "an IP address and port other than `bind`, or `off` (development only)",
        default: Value("127.0.0.1:9090"),
        secret: false,
        doc: "Where Prometheus metrics are served (`GET /metrics`), never on the public port. \
              `off` collects nothing.",
    },
    Setting {
        name: "admin_bind",
        section: SERVER,
        values: "an IP address and port other than `bind` and `metrics_bind`, or `off`",
        default: Value("off"),
        secret: false,
        doc: "Where the admin HTTP API and its OpenAPI document (`GET /openapi.json`) are \
              served, never on the public port. Callers present `client_credentials` access \
              tokens for the audience `{issuer}/admin` with the scope `ostiary:admin` (or \
              `ostiary:admin:read` for reads). Keep it on loopback or a private network; with \
              `tls_cert` it is served over TLS too, with the same certificate.",
    },
    Setting {
        name: "tls_cert",
        section: SERVER,
        values: "a PEM file: the certificate chain, server certificate first",
        default: Unset("none: plain HTTP (TLS at a proxy in front)"),
        secret: false,
        doc: "Native TLS on `bind` (with `tls_key`; both or neither): TLS 1.3 and 1.2 only, \
              HTTP/2 or HTTP/1.1 by ALPN. The files are re-read when they change, so a renewed \
              certificate is served from the next connection without a restart; files that \
              cannot be served keep the previous certificate.",
    },
    Setting {
        name: "tls_key",
        section: SERVER,
        values: "a PEM file: the private key of `tls_cert` (readable by its owner only)",
        default: Unset("none"),
        secret: false,
        doc: "The private key of the certificate in `tls_cert`.",
    },
    Setting {
        name: "tls_reload_secs",
        section: SERVER,
        values: "seconds, at least 1",
        default: Value("5"),
        secret: false,
        doc: "How often the TLS files are checked for a change: a renewal is served within \
              this time, and a check costs two `stat` calls.",
    },
    Setting {
        name: "jwt_secret",
        section: SECRETS,
        values: "at least 32 characters (`openssl rand -hex 32`)",
        default: Unset(
            "production refuses to start; development generates one once into a 0600 file \
             beside the SQLite database (`ostiary.db.jwt-secret`; `ostiary.jwt-secret` in \
             the working directory for PostgreSQL) and warns at every start",
        ),
        secret: true,
        doc: "The root secret. Signing keys are stored sealed (AES-256-GCM) under a key \
              derived from it, DPoP nonces are derived from it, and so are HS256 access tokens \
              when `access_token_alg` is `HS256`. A database backup is useless without it: \
              keep it apart from the backups.",
    },
    Setting {
        name: "jwt_secret_previous",
        section: SECRETS,
        values: "earlier root secrets, comma-separated, each held to the rules of \
                 `OAUTH2_JWT_SECRET`",
        default: Unset("none"),
        secret: true,
        doc: "During a change of `OAUTH2_JWT_SECRET`: keys sealed under these still open, and \
              every instance re-seals them under the current secret at start and once a \
              minute (`ostiary keys reseal` does it offline). Remove it once `keys reseal` \
              reports nothing left to move (docs/operations.md).",
    },
    Setting {
        name: "session_key",
        section: SECRETS,
        values: "exactly 128 hex characters, 64 bytes (`openssl rand -hex 64`)",
        default: Unset(
            "production refuses to start; development uses a random key per start (sessions \
             end at every restart) and warns",
        ),
        secret: true,
        doc: "Encrypts and authenticates the session and CSRF cookies. A malformed key is \
              refused in every environment.",
    },
    Setting {
        name: "session_key_previous",
        section: SECRETS,
        values: "128 hex characters",
        default: Unset("none"),
        secret: true,
        doc: "During a change of `OAUTH2_SESSION_KEY`: cookies sealed under this key are still \
              read, and re-issued under the current one (docs/operations.md).",
    },
    Setting {
        name: "database_url",
        section: DATABASE,
        values: "`sqlite://PATH` (`sqlite:///var/lib/ostiary/ostiary.db` for an absolute \
                 path) or `postgres://USER@HOST/DB` (`postgresql://` too)",
        default: Value("sqlite://ostiary.db"),
        secret: true,
        doc: "The database. A SQLite file is created on first use; `serve` (unless \
              `--no-migrate`), `migrate` and the admin commands apply pending migrations. \
              Instances sharing one PostgreSQL database share keys, clients and revocations. \
              A URL holding a password belongs in `OAUTH2_DATABASE_URL_FILE`. PostgreSQL \
              connections try TLS first (`sslmode=prefer`), except to a server on this \
              machine: when the URL names a loopback host, neither the URL (`sslmode`, \
              `sslrootcert`, `sslcert`, `sslkey`) nor the environment (`PGSSLMODE`...) says \
              anything about TLS, and the server reports that it accepted the connection on \
              a loopback address too (not a port forwarded to another machine), connections \
              go plain unless the server refuses that. Set `sslmode=require` or \
              `verify-full` to insist on TLS.",
    },
    Setting {
        name: "database_max_connections",
        section: DATABASE,
        values: "at least 1",
        default: Value("10"),
        secret: false,
        doc: "The size of the connection pool. On SQLite these connections read, and one \
              more connection does every write, in the order the writes arrive. On PostgreSQL \
              six more connections run the user flows' batches: three write them (codes, \
              their redemptions, refresh rotations), three read their rows by key \
              (sessions, codes, refresh tokens).",
    },
    Setting {
        name: "argon2_memory_kib",
        section: PASSWORDS,
        values: "KiB; with the iterations, never below OWASP's minimum (e.g. 19456 KiB with 2 \
                 iterations, or 47104 KiB with 1)",
        default: Value("19456"),
        secret: false,
        doc: "Argon2id memory cost of user passwords. A cost below the minimum is refused in \
              every environment.",
    },
    Setting {
        name: "argon2_iterations",
        section: PASSWORDS,
        values: "at least 1, with the memory cost at or above OWASP's minimum",
        default: Value("2"),
        secret: false,
        doc: "Argon2id passes.",
    },
    Setting {
        name: "argon2_parallelism",
        section: PASSWORDS,
        values: "at least 1",
        default: Value("1"),
        secret: false,
        doc: "Argon2id lanes.",
    },
    Setting {
        name: "http_body_limit_bytes",
        section: HTTP,
        values: "bytes",
        default: Value("65536"),
        secret: false,
        doc: "The largest request body; a body declared larger gets 413 at once.",
    },
    Setting {
        name: "http_request_timeout_secs",
        section: HTTP,
        values: "whole seconds, at least 1, more than `http_body_timeout_secs`",
        default: Value("30"),
        secret: false,
        doc: "A request not answered within this time, its body included, gets 503.",
    },
    Setting {
        name: "http_body_timeout_secs",
        section: HTTP,
        values: "whole seconds, at least 1, less than `http_request_timeout_secs`",
        default: Unset("10, or half of `http_request_timeout_secs` where that is shorter"),
        secret: false,
        doc: "A request body not in within this time gets 408.",
    },
    Setting {
        name: "http_header_timeout_secs",
        section: HTTP,
        values: SECONDS_AT_LEAST_1,
        default: Value("10"),
        secret: false,
        doc: "A request's line and headers must arrive within this time of the connection \
              opening or, on HTTP/1, of the previous response; else the connection is closed. \
              HTTP/2 peers are pinged at this interval and dropped if they do not answer \
              within it. Behind a proxy that keeps upstream connections open, set it above \
              the proxy's idle timeout.",
    },
    Setting {
        name: "http_idle_timeout_secs",
        section: HTTP,
        values: SECONDS_AT_LEAST_1,
        default: Value("10"),
        secret: false,
        doc: "A connection with no request in flight for this long is closed (on HTTP/1 the \
              header timeout also runs while a kept-alive connection waits, so the shorter one \
              applies there). Behind a proxy that keeps upstream connections open, set it \
              above the proxy's idle timeout.",
    },
    Setting {
        name: "http_max_connections",
        section: HTTP,
        values: "a number of connections; `0` derives it",
        default: Value("0"),
        secret: false,
        doc: "Open connections of the public listener; more wait until one closes. At start \
              the soft descriptor limit is raised to the hard one, and the cap never exceeds \
              that limit less the database pool and 64 spare. `0`: that budget, at most \
              10000.",
    },
    Setting {
        name: "access_token_alg",
        section: TOKENS,
        values: "`ES256`, `RS256`, `EdDSA`, or `HS256` (explicit opt-in)",
        default: Value("ES256"),
        secret: false,
        doc: "The algorithm of access tokens. `HS256` keys them by a subkey of \
              `OAUTH2_JWT_SECRET` and never publishes the key, so resource servers must \
              introspect; `check-config` warns about it.",
    },
    Setting {
        name: "access_token_lifetime_secs",
        section: TOKENS,
        values: "1 to 86400",
        default: Value("900"),
        secret: false,
        doc: "The default access token lifetime (per client: `client create \
              --access-token-lifetime`). Short enough that a leaked token is useful only \
              briefly and the revocation list stays small.",
    },
    Setting {
        name: "key_rotation_days",
        section: TOKENS,
        values: "days; `0` is off",
        default: Value("0"),
        secret: false,
        doc: "Automatic rotation of the signing keys (`ostiary keys rotate` does it by hand). A \
              retired key stays published for a day and five minutes.",
    },
    Setting {
        name: "key_refresh_secs",
        section: TOKENS,
        values: SECONDS_AT_LEAST_1,
        default: Value("2"),
        secret: false,
        doc: "How often each instance re-reads the signing keys, so instances sharing a \
              database and changes made with the CLI converge without restarts.",
    },
    Setting {
        name: "client_cache_secs",
        section: TOKENS,
        values: "0 to 60 seconds; `0` reads the database on every request",
        default: Unset("`1`; `30` on PostgreSQL"),
        secret: false,
        doc: "How long client records are served from memory. On SQLite a deleted client or a \
              rotated secret stops working within this time. On PostgreSQL every instance \
              hears of a client change at once (`LISTEN`/`NOTIFY`) and drops its copy; this \
              time only bounds a change whose announcement was lost without the instance \
              noticing.",
    },
    Setting {
        name: "refresh_token_lifetime_secs",
        section: TOKENS,
        values: SECONDS_AT_LEAST_1,
        default: Value("2592000"),
        secret: false,
        doc: "Each refresh token's lifetime (30 days); every use rotates it and issues a fresh \
              one.",
    },
    Setting {
        name: "refresh_grace_secs",
        section: TOKENS,
        values: "0 to 300 seconds; `0` is none",
        default: Value("10"),
        secret: false,
        doc: "A rotated refresh token retried by the same client within this time gets the \
              very same answer instead of revoking its family (a lost response), until the \
              successor itself is used.",
    },
    Setting {
        name: "dpop_nonce",
        section: TOKENS,
        values: SWITCH,
        default: Value("off"),
        secret: false,
        doc: "Demand a server nonce in every DPoP proof (RFC 9449 section 8): a proof without \
              the current one gets `use_dpop_nonce` and the nonce in `DPoP-Nonce`.",
    },
    Setting {
        name: "require_par",
        section: TOKENS,
        values: SWITCH,
        default: Value("off"),
        secret: false,
        doc: "Every authorization request must be pushed to `/par` first (RFC 9126); per \
              client: `client create --require-par`.",
    },
    Setting {
        name: "session_idle_secs",
        section: SESSIONS,
        values: "whole seconds, at least 1 and at most `session_lifetime_secs`",
        default: Value("43200"),
        secret: false,
        doc: "A login session ends after this long unused (12 hours).",
    },
    Setting {
        name: "session_lifetime_secs",
        section: SESSIONS,
        values: "whole seconds, at least `session_idle_secs`",
        default: Value("604800"),
        secret: false,
        doc: "A login session ends this long after login in any case (7 days).",
    },
    Setting {
        name: "require_mfa",
        section: SESSIONS,
        values: SWITCH,
        default: Value("off"),
        secret: false,
        doc: "Every user gives a second factor (a TOTP code, RFC 6238) before any client gets \
              a code or a device approval for them; users without one enrol at their next \
              login. Per client: `client create --require-mfa`. A user who has enrolled gives \
              their code at every login either way.",
    },
    Setting {
        name: "trusted_proxies",
        section: PROXIES,
        values: "IP addresses or CIDR networks, comma- or space-separated",
        default: Unset("none: the forwarding header is ignored"),
        secret: false,
        doc: "Proxies whose forwarding header is believed, read right to left up to the first \
              untrusted address; rate limits and the audit trail then use the client's \
              address instead of the proxy's.",
    },
    Setting {
        name: "forwarded_header",
        section: PROXIES,
        values: "`x-forwarded-for` or `forwarded`",
        default: Value("x-forwarded-for"),
        secret: false,
        doc: "Which header the trusted proxies set.",
    },
    Setting {
        name: "rate_limits",
        section: PROXIES,
        values: "`on`, or `off` (development only)",
        default: Value("on"),
        secret: false,
        doc: "Brute-force limits on failed client authentications and logins, per source \
              address, per client and per account. They count failures only: correctly \
              authenticated traffic is never throttled by them.",
    },
    Setting {
        name: "client_quota_per_sec",
        section: PROXIES,
        values: "requests per second; `0` is none",
        default: Value("0"),
        secret: false,
        doc: "Token, introspection and revocation requests per second each client may make. \
              On PostgreSQL each instance allows its share: the quota divided by the instances \
              serving from the database (counted every 5 s), rounded down, at least 1.",
    },
    Setting {
        name: "cors_origins",
        section: PROXIES,
        values: "origins (`https://app.example.com`: scheme, host, optional port; no path, no \
                 wildcard), comma- or space-separated",
        default: Unset("none: only public clients' registered web origins"),
        secret: false,
        doc: "Browser origins allowed by CORS besides the web origins of public clients' \
              redirect URIs. CORS covers the token, revocation and userinfo endpoints, \
              discovery and JWKS, and never carries cookies.",
    },
    Setting {
        name: "audit",
        section: AUDIT,
        values: "`on`, or `off` (development only, to measure its cost)",
        default: Value("on"),
        secret: false,
        doc: "The audit trail of security events (`ostiary audit list`).",
    },
    Setting {
        name: "audit_journal",
        section: AUDIT,
        values: "a directory on a local disk, owned by the server's user and writable by no \
                 one else",
        default: Unset(
            "beside the SQLite file (`ostiary.db.audit-journal`); for PostgreSQL \
             `ostiary-audit-journal` in the working directory",
        ),
        secret: false,
        doc: "Where events are appended before their responses leave; they are copied to the \
              database within about 50 ms. Instances on one host may share it. The server \
              creates it (mode 0700) and refuses to start if others may write to it.",
    },
    Setting {
        name: "audit_retention_days",
        section: AUDIT,
        values: "0 to 36500 days; `0` keeps events for good",
        default: Value("90"),
        secret: false,
        doc: "Audit events older than this are purged in the background.",
    },
    Setting {
        name: "registration",
        section: REGISTRATION,
        values: "`token`, `open` or `off`",
        default: Value("token"),
        secret: false,
        doc: "Dynamic client registration (`POST /register`, RFC 7591): `token` needs an \
              initial access token (`ostiary registration-token create`), `open` lets anyone \
              register (the code and refresh grants only, 20 clients per source address an \
              hour), `off` removes the endpoint.",
    },
    Setting {
        name: "registration_scopes",
        section: REGISTRATION,
        values: "scopes, comma- or space-separated",
        default: Value("openid profile email offline_access"),
        secret: false,
        doc: "The scopes a self-registered client (or a client ID metadata document) may ask \
              for; also listed in discovery's `scopes_supported`.",
    },
    Setting {
        name: "registration_audiences",
        section: REGISTRATION,
        values: "absolute URIs, comma- or space-separated",
        default: Unset("none"),
        secret: false,
        doc: "The RFC 8707 resources every self-registered client may ask tokens for.",
    },
    Setting {
        name: "client_metadata_hosts",
        section: REGISTRATION,
        values: "host names (`app.example.com`) or subdomain patterns (`*.example.com`), \
                 comma- or space-separated",
        default: Unset("none: client ID metadata documents are off"),
        secret: false,
        doc: "Hosts whose `https` URLs may be client ids, naming client ID metadata documents \
              that the server fetches (public addresses only, at most 16 KiB, 5 s, no \
              redirects). Plain `http` to a loopback host only in development. \
              `check-config` warns about a pattern over a whole top-level domain.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_and_documented() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                s.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                s.name
            );
            assert!(
                SETTINGS[..i].iter().all(|t| t.name != s.name),
                "{} twice",
                s.name
            );
            assert!(!s.doc.is_empty() && !s.values.is_empty(), "{}", s.name);
            // Rows of a section stay together, so the reference lists each section once.
            assert!(
                i == 0
                    || SETTINGS[i - 1].section == s.section
                    || SETTINGS[..i].iter().all(|t| t.section != s.section),
                "{} is apart from its section {}",
                s.name,
                s.section
            );
        }
    }
}
