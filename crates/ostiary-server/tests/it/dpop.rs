//! DPoP (RFC 9449) end to end, with proofs made by a third-party JOSE library: bound tokens
//! at the token endpoint, introspection and userinfo; codes bound by `dpop_jkt`; public
//! clients' refresh tokens bound to their key; server nonces; and every forged, stale,
//! misdirected or replayed proof refused.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use ostiary_core::SystemClock;
use ostiary_core::client::ClientRegistration;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    APP_REDIRECT, Backend, Browser, ClientKey, TestApp, add_user, code_request, form_body,
    form_post, jwt_claims, machine_client, now, pkce, send, serve_app_on, set_param, unique,
    web_client,
};

on_both_backends!(
    a_proof_binds_the_access_token_to_the_key,
    a_proof_is_accepted_once_even_by_another_instance,
    a_public_client_keeps_its_code_and_refresh_tokens_bound_to_its_key,
);

const TOKEN_URL: &str = "http://127.0.0.1:8080/token";

async fn app_on(backend: Backend, vars: &[(&str, &str)]) -> Option<TestApp> {
    TestApp::on(backend, vars, Arc::new(SystemClock)).await
}

/// `grant_type=client_credentials` for the secret client `svc`, with these `DPoP` headers.
fn token_request(secret: &str, proofs: &[&str]) -> Request<Body> {
    let mut request = form_post(
        "/token",
        "grant_type=client_credentials",
        Some(("svc", secret)),
    );
    for proof in proofs {
        request.headers_mut().append("dpop", proof.parse().unwrap());
    }
    request
}

async fn a_proof_binds_the_access_token_to_the_key(backend: Backend) {
    let Some(app) = app_on(backend, &[]).await else {
        return;
    };
    let secret = app.client(machine_client("svc")).await.unwrap();
    let key = ClientKey::generate();
    let proof = key.proof("POST", TOKEN_URL, None, None);
    let (status, _, issued) = send(&app, token_request(&secret, &[&proof])).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["token_type"], "DPoP");
    let token = issued["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(token)["cnf"], json!({ "jkt": key.jkt }));

    // Introspection tells a resource server which key to expect (RFC 9449 6.2).
    let body = form_body(&[("token", token)]);
    let (_, _, answer) = send(
        &app,
        form_post("/introspect", &body, Some(("svc", &secret))),
    )
    .await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["cnf"], json!({ "jkt": key.jkt }));

    // Without a proof the same client gets a bearer token, unbound.
    let (_, _, plain) = send(&app, token_request(&secret, &[])).await;
    assert_eq!(plain["token_type"], "Bearer");
    assert!(jwt_claims(plain["access_token"].as_str().unwrap())["cnf"].is_null());
}

async fn a_proof_is_accepted_once_even_by_another_instance(backend: Backend) {
    let Some(app) = app_on(backend, &[]).await else {
        return;
    };
    let secret = app.client(machine_client("svc")).await.unwrap();
    let key = ClientKey::generate();
    let proof = key.proof("POST", TOKEN_URL, None, None);
    assert_eq!(
        send(&app, token_request(&secret, &[&proof])).await.0,
        StatusCode::OK
    );
    let (status, _, body) = send(&app, token_request(&secret, &[&proof])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_dpop_proof");

    use tower::ServiceExt;
    let other = app.other_instance().await;
    let response = other
        .oneshot(token_request(&secret, &[&proof]))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "replay at a second instance"
    );
}

#[tokio::test]
async fn forged_stale_and_misdirected_proofs_are_refused() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let key = ClientKey::generate();
    let claims = |htm: &str, htu: &str, iat: i64| json!({ "jti": unique("p"), "htm": htm, "htu": htu, "iat": iat });
    let private_jwk = {
        // The key's private scalar in the header: a leaked key is refused, not used.
        let mut jwk = serde_json::to_value(&key.jwk).unwrap();
        jwk["d"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let header = json!({ "alg": "ES256", "typ": "dpop+jwt", "jwk": jwk });
        key.sign_raw(&header, &claims("POST", TOKEN_URL, now()))
    };
    let unsigned = {
        use base64::Engine;
        let b64 = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let header = json!({ "alg": "none", "typ": "dpop+jwt", "jwk": key.jwk });
        format!("{}.{}.", b64(header), b64(claims("POST", TOKEN_URL, now())))
    };
    let wrong_typ = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.jwk = Some(key.jwk.clone());
        key.sign(&header, &claims("POST", TOKEN_URL, now()))
    };
    for (what, proof) in [
        (
            "another URL",
            key.proof_with(&claims("POST", "http://127.0.0.1:8080/revoke", now())),
        ),
        (
            "another method",
            key.proof_with(&claims("GET", TOKEN_URL, now())),
        ),
        (
            "five minutes old",
            key.proof_with(&claims("POST", TOKEN_URL, now() - 300)),
        ),
        (
            "from the future",
            key.proof_with(&claims("POST", TOKEN_URL, now() + 300)),
        ),
        ("a private key in jwk", private_jwk.clone()),
        ("alg none", unsigned),
        ("typ JWT", wrong_typ),
        ("not a JWT", "proof".to_owned()),
    ] {
        let (status, _, body) = send(&app, token_request(&secret, &[&proof])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{what}");
    }
    // Each refusal says what it refused, and nothing else.
    let jku = {
        let header = json!({ "alg": "ES256", "typ": "dpop+jwt", "jwk": key.jwk, "jku": "https://x.example/k" });
        key.sign_raw(&header, &claims("POST", TOKEN_URL, now()))
    };
    for (proof, description) in [
        (
            jku,
            "the proof header carries a parameter that is refused (jku, x5u, x5c, crit...)",
        ),
        (private_jwk, "the proof jwk must be one public key"),
    ] {
        let (_, _, body) = send(&app, token_request(&secret, &[&proof])).await;
        assert_eq!(body["error_description"], description);
    }
    let one = key.proof("POST", TOKEN_URL, None, None);
    let two = key.proof("POST", TOKEN_URL, None, None);
    let (status, _, body) = send(&app, token_request(&secret, &[&one, &two])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_dpop_proof", "two proofs");
}

/// What current JOSE libraries send: the RFC 9864 name `Ed25519` (beside the older `EdDSA`)
/// for one Ed25519 key, and an `htu` spelled otherwise than the server's own, which RFC 9449
/// 4.3 compares after RFC 3986 normalization.
#[tokio::test]
async fn a_proof_may_name_ed25519_and_spell_its_url_otherwise() {
    use aws_lc_rs::digest::{SHA256, digest};
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine;
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let pair = Ed25519KeyPair::generate().unwrap();
    let x = b64(pair.public_key().as_ref());
    // RFC 7638: the required members in lexicographic order.
    let jkt = b64(digest(
        &SHA256,
        format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#).as_bytes(),
    )
    .as_ref());
    let proof = |alg: &str, htu: &str| {
        let header = json!({ "alg": alg, "typ": "dpop+jwt", "jwk": { "kty": "OKP", "crv": "Ed25519", "x": x } });
        let claims = json!({ "jti": unique("p"), "htm": "POST", "htu": htu, "iat": now() });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        format!("{input}.{}", b64(pair.sign(input.as_bytes()).as_ref()))
    };
    for (alg, htu) in [
        ("Ed25519", TOKEN_URL),
        ("EdDSA", TOKEN_URL),
        ("Ed25519", "HTTP://127.0.0.1:8080/%74oken?x=1#f"),
        ("Ed25519", "http://127.0.0.1:8080/dpop/../token"),
    ] {
        let (status, _, issued) = send(&app, token_request(&secret, &[&proof(alg, htu)])).await;
        assert_eq!(status, StatusCode::OK, "{alg} {htu}: {issued}");
        let token = issued["access_token"].as_str().unwrap();
        assert_eq!(
            jwt_claims(token)["cnf"],
            json!({ "jkt": jkt }),
            "{alg} {htu}"
        );
    }
    for (alg, htu) in [
        ("ed25519", TOKEN_URL),
        ("Ed448", TOKEN_URL),
        ("Ed25519", "http://127.0.0.1:8080/Token"),
        ("Ed25519", "http://127.0.0.1:8080/x%2F..%2Ftoken"),
    ] {
        let (status, _, body) = send(&app, token_request(&secret, &[&proof(alg, htu)])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{alg} {htu}: {body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{alg} {htu}");
    }
}

#[tokio::test]
async fn a_client_registered_for_dpop_must_send_a_proof() {
    let app = TestApp::new().await;
    let secret = app
        .client(ClientRegistration {
            dpop_bound_access_tokens: true,
            ..machine_client("svc")
        })
        .await
        .unwrap();
    let (status, _, body) = send(&app, token_request(&secret, &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_dpop_proof");
    let proof = ClientKey::generate().proof("POST", TOKEN_URL, None, None);
    let (status, _, body) = send(&app, token_request(&secret, &[&proof])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn server_nonces_are_demanded_handed_out_and_shared_by_instances() {
    let app = TestApp::with_env(&[("OAUTH2_DPOP_NONCE", "on")]).await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let key = ClientKey::generate();
    let nonce_of = |headers: &HeaderMap| {
        headers
            .get("dpop-nonce")
            .expect("a DPoP-Nonce header")
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (status, headers, body) = send(
        &app,
        token_request(&secret, &[&key.proof("POST", TOKEN_URL, None, None)]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "use_dpop_nonce");
    let nonce = nonce_of(&headers);

    let wrong = key.proof("POST", TOKEN_URL, None, Some("not-the-nonce"));
    let (_, _, body) = send(&app, token_request(&secret, &[&wrong])).await;
    assert_eq!(body["error"], "use_dpop_nonce");

    let (status, headers, body) = send(
        &app,
        token_request(
            &secret,
            &[&key.proof("POST", TOKEN_URL, None, Some(&nonce))],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        nonce_of(&headers),
        nonce,
        "the answer carries the current nonce"
    );

    // Another instance accepts the nonce this one handed out.
    use tower::ServiceExt;
    let proof = key.proof("POST", TOKEN_URL, None, Some(&nonce));
    let response = app
        .other_instance()
        .await
        .oneshot(token_request(&secret, &[&proof]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn challenges(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn a_public_client_keeps_its_code_and_refresh_tokens_bound_to_its_key(backend: Backend) {
    let Some((app, base)) = serve_app_on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    app.client(web_client("spa", true)).await;
    add_user(&app).await;
    let token_url = format!("{base}/token");
    let key = ClientKey::generate();
    let stranger = ClientKey::generate();

    // The code is bound to the key at /authorize (RFC 9449 10).
    let browser = Browser::new(&base);
    let (challenge, verifier) = pkce();
    let mut params = code_request("spa", "openid offline_access", "st", &challenge);
    set_param(&mut params, "dpop_jkt", &key.jkt);
    let page = browser.sign_in_and_approve(&params).await;
    let code = page.redirect_param("code").expect("a code");

    let http = reqwest::Client::new();
    let post = |fields: Vec<(&'static str, String)>, proof: Option<String>| {
        let mut request = http.post(&token_url).form(&fields);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let redeem = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", APP_REDIRECT.to_owned()),
            ("code_verifier", verifier.clone()),
            ("client_id", "spa".to_owned()),
        ]
    };
    let (status, body) = post(redeem(&code), None).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, body) = post(
        redeem(&code),
        Some(stranger.proof("POST", &token_url, None, None)),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, issued) = post(
        redeem(&code),
        Some(key.proof("POST", &token_url, None, None)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["token_type"], "DPoP");
    let access = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&access)["cnf"]["jkt"], key.jkt);

    // The refresh token is bound too: no proof or another key's proof fails, without
    // revoking anything; the holder's proof rotates it.
    let refresh = |token: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", token.to_owned()),
            ("client_id", "spa".to_owned()),
        ]
    };
    let refresh_token = issued["refresh_token"].as_str().unwrap();
    let (status, body) = post(refresh(refresh_token), None).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, _) = post(
        refresh(refresh_token),
        Some(stranger.proof("POST", &token_url, None, None)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, rotated) = post(
        refresh(refresh_token),
        Some(key.proof("POST", &token_url, None, None)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(rotated["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.jkt
    );

    // Userinfo: the bound token needs the DPoP scheme and a proof carrying its hash.
    let userinfo_url = format!("{base}/userinfo");
    let get = |scheme: &str, proof: Option<String>| {
        let mut request = http
            .get(&userinfo_url)
            .header("Authorization", format!("{scheme} {access}"));
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let challenges = challenges(response.headers());
            (status, challenges, response.json::<Value>().await.ok())
        }
    };
    let proof = key.proof("GET", &userinfo_url, Some(&access), None);
    let (status, _, info) = get("DPoP", Some(proof.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(info.unwrap()["sub"].is_string());
    let (status, challenges, _) = get("DPoP", Some(proof)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replayed proof");
    assert!(
        challenges
            .iter()
            .any(|c| c.contains(r#"error="invalid_dpop_proof""#)),
        "{challenges:?}"
    );
    let (status, challenges, _) = get("Bearer", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("DPoP") && c.contains(r#"error="invalid_token""#)),
        "{challenges:?}"
    );
    let (status, challenges, _) = get(
        "DPoP",
        Some(key.proof("GET", &userinfo_url, Some("another token"), None)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("DPoP") && c.contains(r#"error="invalid_dpop_proof""#)),
        "{challenges:?}"
    );
    let (status, _, _) = get(
        "DPoP",
        Some(stranger.proof("GET", &userinfo_url, Some(&access), None)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a proof by another key");
}

#[tokio::test]
async fn userinfo_refuses_an_unbound_token_under_the_dpop_scheme_and_a_missing_proof() {
    let (app, base) = crate::support::serve_app(&[]).await;
    app.client(web_client("web", true)).await;
    add_user(&app).await;
    let browser = Browser::new(&base);
    let (code, verifier) = browser.obtain_code("web", "openid").await;
    let (_, issued) = crate::support::redeem_code(&base, "web", None, &code, &verifier).await;
    let token = issued["access_token"].as_str().unwrap();
    assert_eq!(issued["token_type"], "Bearer");
    let key = ClientKey::generate();
    let url = format!("{base}/userinfo");
    let proof = key.proof("GET", &url, Some(token), None);
    let http = reqwest::Client::new();
    let response = http
        .get(&url)
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "unbound token as DPoP"
    );
    let response = http
        .get(&url)
        .header("Authorization", format!("DPoP {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenges(response.headers())
            .iter()
            .any(|c| c.contains(r#"error="invalid_dpop_proof""#))
    );
    // The same token as Bearer works; no credentials at all gets both bare challenges.
    let response = http
        .get(&url)
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http.get(&url).send().await.unwrap();
    let offered = challenges(response.headers());
    assert!(
        offered.iter().any(|c| c.starts_with("Bearer")),
        "{offered:?}"
    );
    assert!(
        offered
            .iter()
            .any(|c| c.starts_with("DPoP") && c.contains("algs=")),
        "{offered:?}"
    );
}

#[tokio::test]
async fn a_browser_client_may_send_proofs_and_read_the_nonce_across_origins() {
    let app = TestApp::with_env(&[
        ("OAUTH2_CORS_ORIGINS", "https://spa.example.com"),
        ("OAUTH2_DPOP_NONCE", "on"),
    ])
    .await;
    let preflight = Request::options("/token")
        .header("origin", "https://spa.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "dpop")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(&app, preflight).await;
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("dpop"), "{allowed}");

    let secret = app.client(machine_client("svc")).await.unwrap();
    let mut request = token_request(
        &secret,
        &[&ClientKey::generate().proof("POST", TOKEN_URL, None, None)],
    );
    request
        .headers_mut()
        .insert("origin", "https://spa.example.com".parse().unwrap());
    let (status, headers, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.contains_key("dpop-nonce"));
    let exposed = headers["access-control-expose-headers"].to_str().unwrap();
    assert!(exposed.contains("dpop-nonce"), "{exposed}");
}

#[tokio::test]
async fn a_public_client_that_starts_dpop_at_a_refresh_is_bound_from_then_on() {
    let (app, base) = crate::support::serve_app(&[]).await;
    app.client(web_client("spa", true)).await;
    add_user(&app).await;
    let (code, verifier) = Browser::new(&base)
        .obtain_code("spa", "openid offline_access")
        .await;
    let (_, issued) = crate::support::redeem_code(&base, "spa", None, &code, &verifier).await;
    assert_eq!(issued["token_type"], "Bearer");
    let token_url = format!("{base}/token");
    let key = ClientKey::generate();
    let refresh = |token: String, proof: Option<String>| {
        let mut request = reqwest::Client::new().post(&token_url).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_str()),
            ("client_id", "spa"),
        ]);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let first = issued["refresh_token"].as_str().unwrap().to_owned();
    let (status, bound) = refresh(first, Some(key.proof("POST", &token_url, None, None))).await;
    assert_eq!(status, StatusCode::OK, "{bound}");
    assert_eq!(bound["token_type"], "DPoP");
    let next = bound["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(next.clone(), None).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let other = ClientKey::generate().proof("POST", &token_url, None, None);
    let (status, _) = refresh(next.clone(), Some(other)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = refresh(next, Some(key.proof("POST", &token_url, None, None))).await;
    assert_eq!(status, StatusCode::OK);
}
