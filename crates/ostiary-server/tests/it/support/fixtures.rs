//! What tests register: the machine and web clients, and the user who signs in.

use ostiary_core::SystemClock;
use ostiary_core::client::{Audience, ClientId, ClientRegistration, GrantType, Scope};
use secrecy::SecretString;

use super::TestApp;

/// Where the test web application receives its authorization responses.
pub const APP_REDIRECT: &str = "https://app.example.com/cb";
/// The application's registered `post_logout_redirect_uri`.
pub const APP_LOGOUT_REDIRECT: &str = "https://app.example.com/signed-out";
pub const USER: &str = "alice";
pub const USER_PASSWORD: &str = "correct horse battery staple";
pub const USER_EMAIL: &str = "alice@example.com";

/// A confidential machine client `id` with scopes `read write` and one audience.
pub fn machine_client(id: &str) -> ClientRegistration {
    ClientRegistration {
        name: format!("{id} service"),
        client_id: Some(ClientId::parse(id).unwrap()),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec![
            Scope::parse("read").unwrap(),
            Scope::parse("write").unwrap(),
        ],
        audiences: vec![Audience::parse("https://api.example.com").unwrap()],
        ..ClientRegistration::default()
    }
}

/// A web application `id` for the authorization code and refresh token grants, with scopes
/// `openid profile email offline_access`, redirect URI `APP_REDIRECT` and post-logout
/// redirect URI `APP_LOGOUT_REDIRECT`; public (no secret) or confidential.
pub fn web_client(id: &str, public: bool) -> ClientRegistration {
    use ostiary_core::client::{RedirectUri, UriPolicy};
    let policy = UriPolicy {
        allow_insecure_http: false,
    };
    ClientRegistration {
        name: format!("{id} app"),
        client_id: Some(ClientId::parse(id).unwrap()),
        public,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec![RedirectUri::parse(APP_REDIRECT, policy).unwrap()],
        post_logout_redirect_uris: vec![RedirectUri::parse(APP_LOGOUT_REDIRECT, policy).unwrap()],
        scopes: ["openid", "profile", "email", "offline_access"]
            .iter()
            .map(|s| Scope::parse(s).unwrap())
            .collect(),
        ..ClientRegistration::default()
    }
}

/// A device client `id` (RFC 8628) with refresh tokens, scopes `openid profile
/// offline_access` and the audience `https://api.example.com`; public (no secret) or
/// confidential.
pub fn device_client(id: &str, public: bool) -> ClientRegistration {
    ClientRegistration {
        name: format!("{id} device"),
        client_id: Some(ClientId::parse(id).unwrap()),
        public,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "offline_access"]
            .iter()
            .map(|s| Scope::parse(s).unwrap())
            .collect(),
        audiences: vec![Audience::parse("https://api.example.com").unwrap()],
        ..ClientRegistration::default()
    }
}

/// Creates the user `USER` (password `USER_PASSWORD`, email `USER_EMAIL`) through the CLI's
/// code path. Cheap hashing is fine: the server verifies any Argon2id PHC string.
pub async fn add_user(app: &TestApp) -> ostiary_core::user::User {
    add_user_with_password(app, USER, USER_PASSWORD).await
}

/// Creates `username` with `password` (email `USER_EMAIL`) through the CLI's code path: the
/// password is prepared and checked by `Password::new` as `user create --password-stdin` does.
pub async fn add_user_with_password(
    app: &TestApp,
    username: &str,
    password: &str,
) -> ostiary_core::user::User {
    use ostiary_core::admin::create_user;
    use ostiary_core::password::{Password, PasswordHasher};
    use ostiary_core::user::{Email, Username};
    create_user(
        &*app.state.store,
        &PasswordHasher::insecure_fast_for_tests(),
        &SystemClock,
        Username::parse(username).unwrap(),
        Some(Email::parse(USER_EMAIL).unwrap()),
        Password::new(SecretString::from(password)).unwrap(),
    )
    .await
    .expect("create user")
}
