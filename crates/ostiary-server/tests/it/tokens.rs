//! client_credentials, introspection, revocation, JWKS and discovery through the router.

use crate::support::{ISSUER, TestApp, form_post, machine_client, send};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ostiary_core::client::ClientRegistration;
use ostiary_jwt::Algorithm;
use serde_json::{Value, json};

async fn token(app: &TestApp, id: &str, secret: &str, body: &str) -> (StatusCode, Value) {
    let (status, headers, json) = send(app, form_post("/token", body, Some((id, secret)))).await;
    assert_eq!(headers["cache-control"], "no-store", "{json}");
    (status, json)
}

async fn access_token(app: &TestApp, id: &str, secret: &str) -> String {
    let (status, json) = token(app, id, secret, "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> Value {
    let (status, headers, json) = send(
        app,
        form_post("/introspect", &format!("token={token}"), Some((id, secret))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(headers["cache-control"], "no-store");
    json
}

fn decode_segment(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&B64.decode(segment).unwrap()).unwrap()
}

#[tokio::test]
async fn issues_rfc9068_access_tokens() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let (status, json) = token(
        &app,
        "svc",
        &secret,
        "grant_type=client_credentials&scope=read",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 900);
    assert_eq!(json["scope"], "read");
    let jwt = json["access_token"].as_str().unwrap();
    let header = decode_segment(jwt, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    let claims = decode_segment(jwt, 1);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["client_id"], "svc");
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(claims["scope"], "read");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 900);
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
}

#[tokio::test]
async fn per_client_lifetime_and_default_scope() {
    let app = TestApp::new().await;
    let registration = ClientRegistration {
        access_token_lifetime: Some(time::Duration::seconds(60)),
        ..machine_client("short")
    };
    let secret = app.client(registration).await.unwrap();
    let (_, json) = token(&app, "short", &secret, "grant_type=client_credentials").await;
    assert_eq!(json["expires_in"], 60);
    assert_eq!(json["scope"], "read write");
}

#[tokio::test]
async fn client_secret_post_works_when_registered_and_is_refused_otherwise() {
    let app = TestApp::new().await;
    let registration = ClientRegistration {
        auth_method: Some(ostiary_core::client::TokenEndpointAuthMethod::ClientSecretPost),
        ..machine_client("poster")
    };
    let secret = app.client(registration).await.unwrap();
    let body = format!("grant_type=client_credentials&client_id=poster&client_secret={secret}");
    let (status, _, json) = send(&app, form_post("/token", &body, None)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    // The registered method is enforced: the same secret over Basic fails.
    let (status, json) = token(&app, "poster", &secret, "grant_type=client_credentials").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["error"], "invalid_client");
}

#[tokio::test]
async fn wrong_secret_and_unknown_client_are_the_same_invalid_client() {
    let app = TestApp::new().await;
    app.client(machine_client("svc")).await.unwrap();
    let wrong = send(
        &app,
        form_post(
            "/token",
            "grant_type=client_credentials",
            Some(("svc", "nope")),
        ),
    )
    .await;
    let unknown = send(
        &app,
        form_post(
            "/token",
            "grant_type=client_credentials",
            Some(("ghost", "nope")),
        ),
    )
    .await;
    for (status, headers, json) in [&wrong, &unknown] {
        assert_eq!(*status, StatusCode::UNAUTHORIZED);
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(json["error"], "invalid_client");
    }
    assert_eq!(wrong.2, unknown.2, "identical bodies");
}

#[tokio::test]
async fn both_auth_methods_at_once_are_refused() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let body = format!("grant_type=client_credentials&client_id=svc&client_secret={secret}");
    let (status, _, json) = send(&app, form_post("/token", &body, Some(("svc", &secret)))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"], "invalid_request");
}

#[tokio::test]
async fn scope_escalation_and_unregistered_resources_are_refused() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let (status, json) = token(
        &app,
        "svc",
        &secret,
        "grant_type=client_credentials&scope=read%20admin",
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, json) = token(
        &app,
        "svc",
        &secret,
        "grant_type=client_credentials&resource=https%3A%2F%2Fother.example.com",
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    let (status, json) = token(
        &app,
        "svc",
        &secret,
        "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        decode_segment(json["access_token"].as_str().unwrap(), 1)["aud"],
        "https://api.example.com"
    );
}

#[tokio::test]
async fn grant_errors_follow_rfc6749() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    for (body, status, error) in [
        (
            "grant_type=password&username=a&password=b",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "grant_type=authorization_code&code=x",
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            "grant_type=urn%3Aexample%3Amagic",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        ("scope=read", StatusCode::BAD_REQUEST, "invalid_request"),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let (got, json) = token(&app, "svc", &secret, body).await;
        assert_eq!(
            (got, json["error"].as_str()),
            (status, Some(error)),
            "{body}"
        );
        assert!(json["error_description"].is_string());
    }
    let public = ClientRegistration {
        public: true,
        redirect_uris: vec![
            ostiary_core::client::RedirectUri::parse(
                "https://app.example.com/cb",
                ostiary_core::client::UriPolicy {
                    allow_insecure_http: false,
                },
            )
            .unwrap(),
        ],
        ..ClientRegistration {
            name: "spa".into(),
            client_id: Some(ostiary_core::client::ClientId::parse("spa").unwrap()),
            ..ClientRegistration::default()
        }
    };
    app.client(public).await;
    let (status, _, json) = send(
        &app,
        form_post(
            "/token",
            "grant_type=client_credentials&client_id=spa",
            None,
        ),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn bad_bodies_get_rfc_shaped_4xx() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let json_body = axum::http::Request::post("/token")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            r#"{"grant_type":"client_credentials"}"#,
        ))
        .unwrap();
    let (status, _, json) = send(&app, json_body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"], "invalid_request");
    // Parameters in the query and no body at all: a malformed request, 400 (RFC 6749 5.2).
    let no_body = axum::http::Request::post("/token?grant_type=client_credentials")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, _, json) = send(&app, no_body).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let huge = format!(
        "grant_type=client_credentials&scope={}",
        "a".repeat(200_000)
    );
    let (status, _, json) = send(&app, form_post("/token", &huge, Some(("svc", &secret)))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json["error"], "invalid_request");
    let (status, _, json) = send(
        &app,
        form_post("/token", "%%%&&&==\u{0}", Some(("svc", &secret))),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, _, _) = send(
        &app,
        form_post("/token", "grant_type=client_credentials", None),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn introspection_reports_valid_tokens_to_their_client_only() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let other = app.client(machine_client("other")).await.unwrap();
    // A resource server registered to introspect tokens for its audience.
    let api = ClientRegistration {
        audiences: vec![],
        introspect_audiences: vec![
            ostiary_core::client::Audience::parse("https://api.example.com").unwrap(),
        ],
        ..machine_client("api")
    };
    let api_secret = app.client(api).await.unwrap();
    let jwt = access_token(&app, "svc", &secret).await;

    let mine = introspect(&app, "svc", &secret, &jwt).await;
    assert_eq!(mine["active"], true);
    assert_eq!(mine["client_id"], "svc");
    assert_eq!(mine["scope"], "read write");
    assert_eq!(mine["iss"], ISSUER);
    assert_eq!(mine["token_type"], "Bearer");
    assert_eq!(mine["aud"], "https://api.example.com");
    assert_eq!(
        introspect(&app, "api", &api_secret, &jwt).await["active"],
        true
    );
    // "other" may request tokens for the same audience, which does not make it the API:
    // it learns nothing about svc's token.
    assert_eq!(
        introspect(&app, "other", &other, &jwt).await,
        json!({ "active": false })
    );
    let (status, _, json) = send(
        &app,
        form_post("/introspect", &format!("token={jwt}&client_id=spa"), None),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );

    let (status, _, json) = send(
        &app,
        form_post(
            "/introspect",
            &format!("token={jwt}"),
            Some(("svc", "wrong")),
        ),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, _, json) = send(&app, form_post("/introspect", "", Some(("svc", &secret)))).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn hostile_tokens_introspect_as_inactive() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let jwt = access_token(&app, "svc", &secret).await;
    let parts: Vec<&str> = jwt.split('.').collect();

    let none_header = B64.encode(json!({ "alg": "none", "typ": "at+jwt" }).to_string());
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let mut claims = decode_segment(&jwt, 1);
    claims["scope"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    let mut sig = B64.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], B64.encode(sig));
    for hostile in [
        alg_none.as_str(),
        &tampered,
        &bad_sig,
        "garbage",
        "a.b.c",
        &"x".repeat(50_000),
    ] {
        let answer = introspect(&app, "svc", &secret, hostile).await;
        assert_eq!(answer, json!({ "active": false }), "{hostile:.40}");
    }
}

#[tokio::test]
async fn revoked_tokens_introspect_as_inactive_and_only_the_owner_can_revoke() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let thief = app.client(machine_client("thief")).await.unwrap();
    let jwt = access_token(&app, "svc", &secret).await;

    let (status, _, json) = send(
        &app,
        form_post("/revoke", &format!("token={jwt}"), Some(("thief", &thief))),
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(introspect(&app, "svc", &secret, &jwt).await["active"], true);

    let (status, headers, _) = send(
        &app,
        form_post("/revoke", &format!("token={jwt}"), Some(("svc", &secret))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        introspect(&app, "svc", &secret, &jwt).await,
        json!({ "active": false })
    );
    // Revoking again, or revoking nonsense, is still 200.
    for token in [jwt.as_str(), "not-a-token"] {
        let (status, _, _) = send(
            &app,
            form_post(
                "/revoke",
                &format!("token={token}&token_type_hint=access_token"),
                Some(("svc", &secret)),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_revoking_the_key_kills_them() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let keys = app.state.tokens.keys();
    let old_jwt = access_token(&app, "svc", &secret).await;
    let old_kid = decode_segment(&old_jwt, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    keys.manager().rotate(Algorithm::Es256).await.unwrap();
    assert!(keys.refresh().await.unwrap());
    let new_jwt = access_token(&app, "svc", &secret).await;
    let new_kid = decode_segment(&new_jwt, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(old_kid, new_kid, "new tokens use the new key");
    assert_eq!(
        introspect(&app, "svc", &secret, &old_jwt).await["active"],
        true
    );
    let (_, _, jwks) = send(&app, support_get("/jwks.json")).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );

    keys.manager().revoke(&old_kid).await.unwrap();
    assert!(keys.refresh().await.unwrap());
    assert_eq!(
        introspect(&app, "svc", &secret, &old_jwt).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&app, "svc", &secret, &new_jwt).await["active"],
        true
    );
    let (_, _, jwks) = send(&app, support_get("/jwks.json")).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    // The revoked key is gone; the new one and the ID token keys (RS256, EdDSA) remain.
    assert_eq!(kids.len(), 3, "{kids:?}");
    assert!(kids.contains(&new_kid.as_str()) && !kids.contains(&old_kid.as_str()));
}

#[tokio::test]
async fn revoking_the_active_key_brings_a_new_one() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let keys = app.state.tokens.keys();
    let jwt = access_token(&app, "svc", &secret).await;
    let kid = decode_segment(&jwt, 0)["kid"].as_str().unwrap().to_owned();
    keys.manager().revoke(&kid).await.unwrap();
    assert!(keys.refresh().await.unwrap());
    let next = access_token(&app, "svc", &secret).await;
    assert_ne!(decode_segment(&next, 0)["kid"].as_str().unwrap(), kid);
    assert_eq!(
        introspect(&app, "svc", &secret, &jwt).await["active"],
        false
    );
}

fn support_get(path: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get(path)
        .body(axum::body::Body::empty())
        .unwrap()
}

#[tokio::test]
async fn jwks_publishes_public_parts_only() {
    let app = TestApp::new().await;
    let (status, headers, jwks) = send(&app, support_get("/jwks.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let keys = jwks["keys"].as_array().unwrap();
    let mut algs: Vec<(&str, &str)> = keys
        .iter()
        .map(|k| (k["alg"].as_str().unwrap(), k["kty"].as_str().unwrap()))
        .collect();
    algs.sort_unstable();
    assert_eq!(algs, [("ES256", "EC"), ("EdDSA", "OKP"), ("RS256", "RSA")]);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private} published");
        }
    }
}

/// RFC 6749 5.2: `error_description` is printable ASCII without `"` and `\`.
#[track_caller]
fn assert_description_charset(json: &Value) {
    let description = json["error_description"].as_str().unwrap();
    assert!(
        description
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
        "{description:?}"
    );
}

#[tokio::test]
async fn a_repeated_unknown_parameter_is_refused_without_echoing_its_name() {
    let app = TestApp::new().await;
    // `"`, `\`, `é` and a newline in the name: none of it may come back.
    for name in ["x%22y", "x%5Cy", "%C3%A9", "x%0Ay", "x%0D%0Ay"] {
        let body = format!("grant_type=client_credentials&{name}=1&{name}=2");
        let (status, headers, json) = send(&app, form_post("/token", &body, None)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {json}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(json["error"], "invalid_request", "{name}");
        assert_eq!(
            json["error_description"], "a parameter is repeated",
            "{name}"
        );
        assert_description_charset(&json);
    }
}

#[tokio::test]
async fn a_repeated_known_parameter_is_named() {
    let app = TestApp::new().await;
    let body = "grant_type=client_credentials&scope=a&scope=b";
    let (status, _, json) = send(&app, form_post("/token", body, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["error"], "invalid_request");
    assert_eq!(json["error_description"], "parameter scope is repeated");
    assert_description_charset(&json);
}

#[tokio::test]
async fn discovery_lists_what_is_implemented_with_the_exact_issuer() {
    let issuer = "https://id.example.com/tenant-a";
    let app = TestApp::with_env(&[("OAUTH2_ISSUER", issuer)]).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let (status, headers, doc) = send(&app, support_get(path)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers["cache-control"]
                .to_str()
                .unwrap()
                .starts_with("public")
        );
        assert_eq!(doc["issuer"], issuer);
        assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
        assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks.json"));
        assert_eq!(
            doc["introspection_endpoint"],
            format!("{issuer}/introspect")
        );
        assert_eq!(doc["revocation_endpoint"], format!("{issuer}/revoke"));
        assert_eq!(
            doc["grant_types_supported"],
            json!([
                "authorization_code",
                "client_credentials",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        // Only what is served: no `select_account`.
        assert_eq!(
            doc["prompt_values_supported"],
            json!(["none", "login", "consent"])
        );
        for (member, path) in [
            ("authorization_endpoint", "/authorize"),
            ("userinfo_endpoint", "/userinfo"),
            ("end_session_endpoint", "/logout"),
            ("device_authorization_endpoint", "/device_authorization"),
        ] {
            assert_eq!(doc[member], format!("{issuer}{path}"));
        }
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["subject_types_supported"], json!(["public"]));
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256", "ES256", "EdDSA"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    }
}

#[tokio::test]
async fn hs256_only_when_configured_and_never_published() {
    let app = TestApp::with_env(&[("OAUTH2_ACCESS_TOKEN_ALG", "HS256")]).await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let jwt = access_token(&app, "svc", &secret).await;
    assert_eq!(decode_segment(&jwt, 0)["alg"], "HS256");
    assert_eq!(introspect(&app, "svc", &secret, &jwt).await["active"], true);
    let (_, _, jwks) = send(&app, support_get("/jwks.json")).await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kty"] != "oct")
    );

    // The default server signs ES256 and does not accept HS256 tokens at all.
    let default = TestApp::new().await;
    let secret = default.client(machine_client("svc")).await.unwrap();
    assert_eq!(
        introspect(&default, "svc", &secret, &jwt).await["active"],
        false
    );
}

#[tokio::test]
async fn tokens_of_a_deleted_client_introspect_as_inactive() {
    let app = TestApp::with_env(&[("OAUTH2_CLIENT_CACHE_SECS", "0")]).await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let api = ClientRegistration {
        introspect_audiences: vec![
            ostiary_core::client::Audience::parse("https://api.example.com").unwrap(),
        ],
        ..machine_client("api")
    };
    let api_secret = app.client(api).await.unwrap();
    let jwt = access_token(&app, "svc", &secret).await;
    assert_eq!(
        introspect(&app, "api", &api_secret, &jwt).await["active"],
        true
    );
    let svc = ostiary_core::client::ClientId::parse("svc").unwrap();
    ostiary_core::admin::delete_client(&*app.state.store, &svc)
        .await
        .unwrap();
    assert_eq!(
        introspect(&app, "api", &api_secret, &jwt).await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_through_the_leeway_after_expiry() {
    let clock = std::sync::Arc::new(ostiary_core::clock::ManualClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let app = TestApp::with_clock(&[], clock.clone()).await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let jwt = access_token(&app, "svc", &secret).await;
    let (status, _, _) = send(
        &app,
        form_post("/revoke", &format!("token={jwt}"), Some(("svc", &secret))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Past exp, but inside the validator's 30 s leeway: the token would still validate.
    clock.advance(time::Duration::seconds(900 + 10));
    app.state
        .store
        .purge_expired_revocations(ostiary_core::Clock::now(&*clock))
        .await
        .unwrap();
    assert_eq!(
        introspect(&app, "svc", &secret, &jwt).await,
        json!({ "active": false })
    );
    clock.advance(time::Duration::seconds(60));
    assert_eq!(
        introspect(&app, "svc", &secret, &jwt).await,
        json!({ "active": false }),
        "expired"
    );
}

/// RFC 9701: asked for a JWT, introspection answers with one signed by the server's RS256
/// key (checked here with `jsonwebtoken` against the published JWKS), for the caller only.
#[tokio::test]
async fn introspection_answers_with_a_signed_jwt_when_asked() {
    let app = TestApp::new().await;
    let secret = app.client(machine_client("svc")).await.unwrap();
    let token = access_token(&app, "svc", &secret).await;
    let body = format!("token={token}");
    let mut request = form_post("/introspect", &body, Some(("svc", &secret)));
    request.headers_mut().insert(
        "accept",
        "application/json;q=0.5, application/token-introspection+jwt"
            .parse()
            .unwrap(),
    );
    use tower::ServiceExt;
    let response = app.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/token-introspection+jwt"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let jwt = String::from_utf8(
        axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();

    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("token-introspection+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let (_, _, jwks) = send(
        &app,
        axum::http::Request::get("/jwks.json")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let kid = header.kid.as_deref().unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(kid).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["svc"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["iss", "aud", "iat"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &validation)
        .unwrap()
        .claims;
    let answer = &claims["token_introspection"];
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], "svc");
    assert!(claims.get("sub").is_none() && claims.get("exp").is_none());

    // Without the media type in Accept: the plain JSON answer.
    let answer = introspect(&app, "svc", &secret, &token).await;
    assert_eq!(answer["active"], true);
}

/// `client rotate-secret --keep-old`: both secrets work during the overlap, the old one not
/// after it.
#[tokio::test]
async fn a_rotated_secret_keeps_working_for_its_overlap_only() {
    use ostiary_core::clock::ManualClock;
    let clock = std::sync::Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = TestApp::with_clock(&[("OAUTH2_CLIENT_CACHE_SECS", "0")], clock.clone()).await;
    let old = app.client(machine_client("svc")).await.unwrap();
    let id = ostiary_core::client::ClientId::parse("svc").unwrap();
    let rotated = ostiary_core::admin::rotate_secret(
        &*app.state.store,
        &*clock,
        &id,
        Some(time::Duration::hours(1)),
    )
    .await
    .unwrap();
    let new = rotated.secret.expose().to_owned();
    let body = "grant_type=client_credentials";
    assert_eq!(token(&app, "svc", &old, body).await.0, StatusCode::OK);
    assert_eq!(token(&app, "svc", &new, body).await.0, StatusCode::OK);
    clock.advance(time::Duration::hours(1));
    let (status, json) = token(&app, "svc", &old, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
    assert_eq!(json["error"], "invalid_client");
    assert_eq!(token(&app, "svc", &new, body).await.0, StatusCode::OK);
}
