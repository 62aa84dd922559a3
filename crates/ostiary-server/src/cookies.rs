//! The browser's cookies: the login session and the CSRF token of the HTML forms. Both are
//! encrypted and authenticated with `OAUTH2_SESSION_KEY` (AES-256-GCM), `HttpOnly`,
//! `SameSite=Lax`, and in production `Secure` with the `__Host-` prefix (no other host or
//! path can set or shadow them).

use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use ostiary_core::random::random_token;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-ostiary_session"
        } else {
            "ostiary_session"
        }
    }

    fn csrf_name(self) -> &'static str {
        if self.secure {
            "__Host-ostiary_csrf"
        } else {
            "ostiary_csrf"
        }
    }

    fn known_name(self) -> &'static str {
        if self.secure {
            "__Host-ostiary_known"
        } else {
            "ostiary_known"
        }
    }

    /// The account this browser last logged into (encrypted, so it cannot be forged).
    pub fn known_account(self, jar: &PrivateCookieJar) -> Option<String> {
        jar.get(self.known_name()).map(|c| c.value().to_owned())
    }

    pub fn with_known_account(self, jar: PrivateCookieJar, account: &str) -> PrivateCookieJar {
        let mut cookie = self.build(self.known_name(), account.to_owned());
        cookie.set_max_age(time::Duration::days(90));
        jar.add(cookie)
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
        jar.get(self.session_name())
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
        let mut cookie = self.build(self.session_name(), token.to_owned());
        cookie.set_max_age(lifetime);
        jar.add(cookie)
    }

    pub fn without_session(self, jar: PrivateCookieJar) -> PrivateCookieJar {
        jar.remove(self.build(self.session_name(), String::new()))
    }

    /// The browser's CSRF token, created on first use; the forms carry it back in a hidden
    /// field, and a cross-site page can neither read the cookie nor forge its encryption.
    pub fn csrf_token(self, jar: PrivateCookieJar) -> (PrivateCookieJar, String) {
        if let Some(existing) = jar.get(self.csrf_name()).filter(|c| !c.value().is_empty()) {
            let value = existing.value().to_owned();
            return (jar, value);
        }
        let token = random_token::<32>();
        let jar = jar.add(self.build(self.csrf_name(), token.clone()));
        (jar, token)
    }

    pub fn csrf_matches(self, jar: &PrivateCookieJar, presented: Option<&str>) -> bool {
        match (jar.get(self.csrf_name()), presented) {
            (Some(cookie), Some(presented)) if !presented.is_empty() => {
                cookie.value().as_bytes().ct_eq(presented.as_bytes()).into()
            }
            _ => false,
        }
    }
}
