//! An MCP-style client end to end: it knows only the resource's URL, is refused with a 401
//! naming the resource's metadata (RFC 9728), finds Ostiary there and in Ostiary's metadata
//! (RFC 8414), registers itself (RFC 7591, with an initial access token), runs the code flow
//! with PKCE and `resource` (RFC 8707) at authorize, token and refresh, calls the resource,
//! and exchanges its token for one aimed at a second resource (RFC 8693) which that resource
//! accepts; a second client introduces itself by a client ID metadata document instead.

use std::sync::Arc;

use axum::Json;
use axum::routing::get;
use ostiary_core::SystemClock;
use ostiary_core::admin::{Actor, Admin};
use ostiary_jwt::bearer::BearerClaims;
use ostiary_jwt::protected_resource::ProtectedResourceMetadata;
use ostiary_jwt::remote::RemoteValidator;
use ostiary_jwt::{KeySet, Profile, Validator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    APP_REDIRECT, Backend, Browser, DocumentServer, Reply, add_user, code_request, jwt_claims,
    pkce, post_client_form, serve_app_on,
};

on_both_backends!(an_mcp_client_finds_registers_signs_in_and_delegates);

/// A resource server on `listener` built on ostiary-jwt as the `resource_server` example is:
/// it accepts tokens of `issuer` for `resource`, publishes its RFC 9728 metadata and names
/// it in every 401.
async fn resource_server(listener: tokio::net::TcpListener, issuer: &str, resource: &str) {
    let rules = Validator::new(Profile::AccessToken, issuer, resource, KeySet::default());
    let metadata = ProtectedResourceMetadata::new(resource)
        .unwrap()
        .with_authorization_server(issuer)
        .unwrap()
        .with_scopes_supported(["mcp:tools"])
        .unwrap();
    let validator = RemoteValidator::new(&format!("{issuer}/jwks.json"), rules)
        .await
        .unwrap()
        .with_resource_metadata(&metadata);
    let path = url::Url::parse(resource).unwrap().path().to_owned();
    let app = axum::Router::new()
        .route(
            &path,
            get(|token: BearerClaims| async move {
                Json(json!({ "sub": token.0.sub, "act": token.0.all.get("act") }))
            }),
        )
        .merge(metadata.router())
        .with_state(Arc::new(validator));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

async fn bound() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    (listener, origin)
}

async fn get_json(
    url: &str,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn an_mcp_client_finds_registers_signs_in_and_delegates(backend: Backend) {
    let (mcp_listener, mcp_origin) = bound().await;
    let (tools_listener, tools_origin) = bound().await;
    let mcp = format!("{mcp_origin}/mcp");
    let tools = format!("{tools_origin}/tools");
    let audiences = format!("{mcp} {tools}");
    let documents = DocumentServer::start().await;
    let vars = [
        ("OAUTH2_CLIENT_METADATA_HOSTS", "127.0.0.1"),
        (
            "OAUTH2_REGISTRATION_SCOPES",
            "openid offline_access mcp:tools",
        ),
        ("OAUTH2_REGISTRATION_AUDIENCES", audiences.as_str()),
    ];
    let Some((app, issuer)) = serve_app_on(backend, &vars, Arc::new(SystemClock)).await else {
        return;
    };
    add_user(&app).await;
    resource_server(mcp_listener, &issuer, &mcp).await;
    resource_server(tools_listener, &issuer, &tools).await;

    // 1. The resource refuses, and says where its metadata is.
    let (status, headers, _) = get_json(&mcp, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    let metadata_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("resource_metadata in the challenge");
    assert_eq!(
        metadata_url,
        format!("{mcp_origin}/.well-known/oauth-protected-resource/mcp")
    );
    let (status, _, resource_metadata) = get_json(metadata_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resource_metadata["resource"], mcp.as_str());
    let authorization_server = resource_metadata["authorization_servers"][0]
        .as_str()
        .unwrap();
    assert_eq!(authorization_server, issuer);

    // 2. The authorization server's metadata (RFC 8414 3).
    let (_, _, server) = get_json(
        &format!("{authorization_server}/.well-known/oauth-authorization-server"),
        None,
    )
    .await;
    assert_eq!(server["issuer"], issuer.as_str());
    assert_eq!(server["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(server["client_id_metadata_document_supported"], true);
    let scopes = server["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&json!("mcp:tools")));

    // 3. Registration (RFC 7591), with the initial access token the operator gave the agent's
    // developer: without one, a client could not be registered for token exchange.
    let admin = Admin::new(
        app.state.store.clone(),
        Arc::new(app.state.audit.clone()),
        Arc::new(SystemClock),
    );
    let (_, initial_access_token) = admin
        .create_registration_token(&Actor::Cli, None, None)
        .await
        .unwrap();
    let registration = reqwest::Client::new()
        .post(server["registration_endpoint"].as_str().unwrap())
        .bearer_auth(initial_access_token.expose())
        .json(&json!({
            "client_name": "MCP agent",
            "redirect_uris": [APP_REDIRECT],
            "grant_types": [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ],
            "scope": "offline_access mcp:tools",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(registration.status(), StatusCode::CREATED);
    let client: Value = registration.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();

    // 4. The code flow with PKCE and the resource at each step.
    let (challenge, verifier) = pkce();
    let mut params = code_request(client_id, "offline_access mcp:tools", "st", &challenge);
    params.push(("resource".into(), mcp.clone()));
    let page = Browser::new(&issuer).sign_in_and_approve(&params).await;
    let code = page.redirect_param("code").expect("a code");
    let token = |fields: Vec<(&'static str, String)>| {
        let issuer = issuer.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_client_form(&issuer, "/token", client_id, Some(secret), &fields).await
        }
    };
    let (status, tokens) = token(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("redirect_uri", APP_REDIRECT.into()),
        ("code_verifier", verifier),
        ("resource", mcp.clone()),
    ])
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["aud"],
        mcp.as_str()
    );
    let (status, refreshed) = token(vec![
        ("grant_type", "refresh_token".into()),
        (
            "refresh_token",
            tokens["refresh_token"].as_str().unwrap().into(),
        ),
        ("resource", mcp.clone()),
    ])
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let access_token = refreshed["access_token"].as_str().unwrap();

    // 5. The resource accepts it; the other resource does not.
    let (status, _, answer) = get_json(&mcp, Some(access_token)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let user = answer["sub"].as_str().unwrap().to_owned();
    let (status, _, _) = get_json(&tools, Some(access_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // 6. Token exchange for the second resource: the agent acts for the user there.
    let (status, exchanged) = token(vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange".into(),
        ),
        ("subject_token", access_token.into()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token".into(),
        ),
        ("resource", tools.clone()),
    ])
    .await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let (status, _, answer) =
        get_json(&tools, Some(exchanged["access_token"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["sub"], user.as_str());
    assert_eq!(answer["act"], json!({ "sub": client_id }));

    // 7. A second client registers by a metadata document instead (served on loopback): its
    // id is the document's URL; public, it runs the same flow with the resource.
    let document_id = documents.url("/mcp-client.json");
    documents.serve(
        "/mcp-client.json",
        Reply::json(&json!({
            "client_id": document_id,
            "client_name": "MCP inspector",
            "redirect_uris": [APP_REDIRECT],
            "token_endpoint_auth_method": "none",
            "scope": "offline_access mcp:tools",
        })),
    );
    let (challenge, verifier) = pkce();
    let mut params = code_request(&document_id, "offline_access mcp:tools", "st", &challenge);
    params.push(("resource".into(), mcp.clone()));
    let page = Browser::new(&issuer).sign_in_and_approve(&params).await;
    let code = page.redirect_param("code").expect("a code");
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", APP_REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("resource", mcp.as_str()),
    ];
    let (status, tokens) = post_client_form(&issuer, "/token", &document_id, None, &fields).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("resource", mcp.as_str()),
    ];
    let (status, refreshed) =
        post_client_form(&issuer, "/token", &document_id, None, &fields).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let (status, _, answer) = get_json(&mcp, refreshed["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["sub"], user.as_str());
    assert_eq!(
        documents.requests("/mcp-client.json"),
        1,
        "fetched once, then stored"
    );
}
