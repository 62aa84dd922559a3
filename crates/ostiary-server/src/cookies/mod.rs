//! The browser's cookies: the login session and the CSRF token of the HTML forms. Both are
//! encrypted and authenticated with `OAUTH2_SESSION_KEY` (AES-256-GCM), `HttpOnly`,
//! `SameSite=Lax`, and in production `Secure` with the `__Host-` prefix (no other host or
//! path can set or shadow them). With `OAUTH2_SESSION_KEY_PREVIOUS`, cookies sealed under the
//! previous key are re-sealed under the current one ([`rekey`]).

mod rekey;

pub use rekey::rekey;

use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use ostiary_core::random::random_token;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy)]
enum Name {
    Session,
    Csrf,
    KnownAccount,
}

impl Name {
    const ALL: [Self; 3] = [Self::Session, Self::Csrf, Self::KnownAccount];
}

/// How long the browser keeps the account hint (`KnownAccount`).
const KNOWN_ACCOUNT_LIFETIME: time::Duration = time::Duration::days(90);

#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// A cookie's name: `__Host-` prefixed when secure (no other host or path can set it).
    fn name(self, cookie: Name) -> &'static str {
        match (cookie, self.secure) {
            (Name::Session, true) => "__Host-ostiary_session",
            (Name::Session, false) => "ostiary_session",
            (Name::Csrf, true) => "__Host-ostiary_csrf",
            (Name::Csrf, false) => "ostiary_csrf",
            (Name::KnownAccount, true) => "__Host-ostiary_known",
            (Name::KnownAccount, false) => "ostiary_known",
        }
    }

    /// The account this browser last logged into (encrypted, so it cannot be forged).
    pub fn known_account(self, jar: &PrivateCookieJar) -> Option<String> {
        jar.get(self.name(Name::KnownAccount))
            .map(|c| c.value().to_owned())
    }

    pub fn with_known_account(self, jar: PrivateCookieJar, account: &str) -> PrivateCookieJar {
        let mut cookie = self.build(self.name(Name::KnownAccount), account.to_owned());
        cookie.set_max_age(KNOWN_ACCOUNT_LIFETIME);
        jar.add(cookie)
    }

    /// The cookie `name` (one of ours) with `value`, built as it is first set (the session's
    /// lasts `session_lifetime`); `None` for a name that is not ours.
    fn rebuilt(
        self,
        name: &str,
        value: String,
        session_lifetime: time::Duration,
    ) -> Option<Cookie<'static>> {
        let which = Name::ALL.into_iter().find(|n| self.name(*n) == name)?;
        let mut cookie = self.build(self.name(which), value);
        match which {
            Name::Session => cookie.set_max_age(session_lifetime),
            Name::KnownAccount => cookie.set_max_age(KNOWN_ACCOUNT_LIFETIME),
            Name::Csrf => {}
        }
        Some(cookie)
    }

    fn build(self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .build()
    }

    pub fn session_token(self, jar: &PrivateCookieJar) -> Option<String> {
        jar.get(self.name(Name::Session))
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Sets the session cookie; it expires with the session's absolute lifetime.
    pub fn with_session(
        self,
        jar: PrivateCookieJar,
        token: &str,
        lifetime: time::Duration,
    ) -> PrivateCookieJar {
        let mut cookie = self.build(self.name(Name::Session), token.to_owned());
        cookie.set_max_age(lifetime);
        jar.add(cookie)
    }

    pub fn without_session(self, jar: PrivateCookieJar) -> PrivateCookieJar {
        jar.remove(self.build(self.name(Name::Session), String::new()))
    }

    /// The browser's CSRF token, created on first use; the forms carry it back in a hidden
    /// field, and a cross-site page can neither read the cookie nor forge its encryption.
    pub fn csrf_token(self, jar: PrivateCookieJar) -> (PrivateCookieJar, String) {
        if let Some(existing) = jar
            .get(self.name(Name::Csrf))
            .filter(|c| !c.value().is_empty())
        {
            let value = existing.value().to_owned();
            return (jar, value);
        }
        let token = random_token::<32>();
        let jar = jar.add(self.build(self.name(Name::Csrf), token.clone()));
        (jar, token)
    }

    pub fn csrf_matches(self, jar: &PrivateCookieJar, presented: Option<&str>) -> bool {
        match (jar.get(self.name(Name::Csrf)), presented) {
            (Some(cookie), Some(presented)) if !presented.is_empty() => {
                cookie.value().as_bytes().ct_eq(presented.as_bytes()).into()
            }
            _ => false,
        }
    }
}
