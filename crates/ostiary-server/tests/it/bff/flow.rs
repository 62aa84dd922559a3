//! The SPA's whole flow through the BFF on both backends, and a BFF that authenticates with
//! a key (`private_key_jwt`).

use super::*;
use crate::on_both_backends;

on_both_backends!(the_spa_signs_in_calls_the_api_and_signs_out_without_seeing_a_token);

async fn the_spa_signs_in_calls_the_api_and_signs_out_without_seeing_a_token(backend: Backend) {
    let Some(setup) = setup(backend, None).await else {
        return;
    };
    let (cookie, _, code) = setup.sign_in_returning("/").await;
    // The code was bound to the session's DPoP key (RFC 9449 section 10) and asked for the
    // userinfo endpoint and the API (RFC 8707).
    let code = setup
        .app
        .state
        .store
        .find_code(&SecretHash::of(&code))
        .await
        .unwrap()
        .unwrap();
    assert!(code.dpop_jkt.is_some());
    assert!(
        code.resources.contains(&API_AUDIENCE.to_owned()),
        "{:?}",
        code.resources
    );
    assert!(
        code.resources
            .contains(&format!("{}/userinfo", setup.as_base))
    );
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.headers()["cache-control"], "no-store");
    let (status, body) = assert_response_has_no_token("/bff/user", user).await;
    assert_eq!(status, StatusCode::OK);
    let claims: Value = serde_json::from_str(&body).unwrap();
    assert!(claims["sub"].is_string());
    // What userinfo adds to the ID token's few claims.
    assert_eq!(claims["preferred_username"], USER, "{claims}");
    assert!(claims.get("nonce").is_none() && claims.get("aud").is_none());

    let orders = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    let (status, body) = assert_response_has_no_token("the API's answer", orders).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let orders: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(orders["subject"], claims["sub"]);
    // The server offers DPoP, so the token is bound to the BFF's key for this session.
    assert!(orders["dpop_jkt"].is_string(), "{orders}");

    // The API sees the token, and neither the browser's cookie nor the CSRF header; the
    // browser never sees a cookie the API sets.
    let echo = setup
        .call(reqwest::Method::POST, "/api/orders/echo", &cookie)
        .header("content-type", "text/plain")
        .header("x-request-id", "r1")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(echo.headers().get("set-cookie").is_none());
    // The API's answer runs nothing on the SPA's origin, whatever it is.
    assert!(
        echo.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    let (status, body) = assert_response_has_no_token("the echo", echo).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["scheme"], "DPoP");
    assert_eq!(echo["body"], "hello");
    let headers: Vec<&str> = echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(
        headers.contains(&"dpop") && headers.contains(&"x-request-id"),
        "{headers:?}"
    );
    for never in ["cookie", "x-csrf", "origin"] {
        assert!(!headers.contains(&never), "{never} reached the API");
    }

    // Signing out: the session ends here and at the server, and the cookie is useless.
    let logout = setup
        .call(reqwest::Method::POST, "/bff/logout", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_no_token("the logout redirect", &format!("{:?}", logout.headers()));
    let to = location(&logout);
    assert!(!to.contains("id_token_hint"), "{to}");
    assert!(
        to.starts_with(&format!("{}/", setup.as_base)) && to.contains("post_logout_redirect_uri="),
        "{to}"
    );
    assert_eq!(
        set_cookie(&logout, "__Host-ostiary-bff")
            .as_deref()
            .map(|c| c.split(';').next().unwrap()),
        Some("")
    );
    for path in ["/bff/user", "/api/orders/orders"] {
        let replayed = setup
            .call(reqwest::Method::GET, path, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED, "{path}");
        let body: Value = replayed.json().await.unwrap();
        assert_eq!(body["error"], "login_required");
    }
}

#[tokio::test]
async fn a_bff_with_a_private_key_signs_in_with_private_key_jwt() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let key = ostiary_jwt::SigningKey::generate(ostiary_jwt::Algorithm::Es256).unwrap();
    let der = key.to_pkcs8().unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let path = dir.path().join("bff-key.pem");
    std::fs::write(
        &path,
        format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
    )
    .unwrap();
    // The key set `ostiary bff --print-jwks` prints is the one registered.
    let config = BffConfig::parse(
        &format!(
            "origin = \"http://127.0.0.1:1\"\nissuer = \"http://127.0.0.1:2\"\nclient_id = \"c\"\n\
             client_private_key_file = \"{}\"\nsession_secret = \"{}\"\n",
            path.display(),
            "s".repeat(32)
        ),
        |_| None,
    )
    .unwrap();
    let printed: ostiary_jwt::JwkSet =
        serde_json::from_str(&ostiary_server::bff::client_jwks(&config).unwrap()).unwrap();
    assert_eq!(printed.keys, [key.public_jwk().unwrap().clone()]);
    let setup = setup_with(Backend::Sqlite, None, Some((&path, printed)))
        .await
        .unwrap();
    let cookie = setup.sign_in().await;
    let orders = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(orders.status(), StatusCode::OK);
}
