//! Token exchange (RFC 8693): an agent (a confidential client) exchanges a user's access token
//! or ID token for an access token aimed at another of its resources, naming itself in `act`;
//! never wider in scope or audience than the subject token and its registration allow.

use std::sync::Arc;

use ostiary_core::SystemClock;
use ostiary_core::audit::AuditEventType;
use ostiary_core::client::{Audience, ClientRegistration, GrantType, Scope};
use reqwest::StatusCode;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{
    Backend, Browser, ClientKey, TestApp, add_user, audit_events, code_request, jwt_claims, pkce,
    post_client_form, serve_app, serve_app_on, serve_app_with_clock, web_client,
};
use ostiary_core::clock::ManualClock;

on_both_backends!(an_agent_exchanges_a_users_token_for_another_resource);

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const API_A: &str = "https://a.api.example.com";
const API_B: &str = "https://b.api.example.com";

/// The confidential web client `agent`: the code flow plus token exchange, scopes
/// `openid offline_access orders:read orders:write`, resources A and B.
fn agent(id: &str) -> ClientRegistration {
    let mut registration = web_client(id, false);
    registration.grant_types.push(GrantType::TokenExchange);
    registration.scopes = ["openid", "offline_access", "orders:read", "orders:write"]
        .map(|s| Scope::parse(s).unwrap())
        .to_vec();
    registration.audiences = [API_A, API_B].map(|a| Audience::parse(a).unwrap()).to_vec();
    registration
}

/// Alice signs in to `client` (secret `secret`) asking for `scope` at `resource`; the token
/// response.
async fn user_tokens(base: &str, client: &str, secret: &str, scope: &str) -> Value {
    let (challenge, verifier) = pkce();
    let mut params = code_request(client, scope, "st", &challenge);
    params.push(("resource".into(), API_A.into()));
    let page = Browser::new(base).sign_in_and_approve(&params).await;
    let code = page.redirect_param("code").expect("a code");
    let (status, tokens) = post_client_form(
        base,
        "/token",
        client,
        Some(secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", crate::support::APP_REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

async fn exchange(
    base: &str,
    client: &str,
    secret: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut all = vec![("grant_type", EXCHANGE)];
    all.extend_from_slice(fields);
    post_client_form(base, "/token", client, Some(secret), &all).await
}

async fn setup(app: &TestApp) -> String {
    add_user(app).await;
    app.client(agent("agent")).await.unwrap()
}

async fn an_agent_exchanges_a_users_token_for_another_resource(backend: Backend) {
    let Some((app, base)) = serve_app_on(backend, &[], Arc::new(SystemClock)).await else {
        return;
    };
    let secret = setup(&app).await;
    let tokens = user_tokens(&base, "agent", &secret, "openid orders:read").await;
    let subject = tokens["access_token"].as_str().unwrap();
    let subject_claims = jwt_claims(subject);
    assert_eq!(subject_claims["aud"], API_A);

    let (status, exchanged) = exchange(
        &base,
        "agent",
        &secret,
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("resource", API_B),
            ("scope", "orders:read"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    assert_eq!(exchanged["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(exchanged["token_type"], "Bearer");
    assert_eq!(exchanged["scope"], "orders:read");
    assert!(exchanged.get("refresh_token").is_none());
    let claims = jwt_claims(exchanged["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], API_B);
    assert_eq!(claims["sub"], subject_claims["sub"]);
    assert_eq!(claims["client_id"], "agent");
    assert_eq!(claims["act"], serde_json::json!({ "sub": "agent" }));
    assert!(claims["exp"].as_i64() <= subject_claims["exp"].as_i64());

    // The exchanged token introspects as active, for the agent that holds it.
    let (status, answer) = post_client_form(
        &base,
        "/introspect",
        "agent",
        Some(&secret),
        &[("token", exchanged["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["active"], true, "{answer}");

    // Both parties are in the audit trail: the agent acting, the user as subject.
    let issued = audit_events(&app, AuditEventType::TokenIssued).await;
    let last = issued.last().unwrap();
    assert_eq!(last.actor, "client:agent");
    assert_eq!(last.subject.as_deref(), subject_claims["sub"].as_str());

    // The ID token proves the sign-in: what the user consented to may be delegated.
    let (status, from_id_token) = exchange(
        &base,
        "agent",
        &secret,
        &[
            ("subject_token", tokens["id_token"].as_str().unwrap()),
            ("subject_token_type", ID_TOKEN),
            ("audience", API_B),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{from_id_token}");
    assert_eq!(from_id_token["scope"], "openid orders:read");
    let claims = jwt_claims(from_id_token["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], API_B);
    assert_eq!(claims["act"]["sub"], "agent");
}

#[tokio::test]
async fn an_exchange_never_widens_scope_or_audience() {
    let (app, base) = serve_app(&[]).await;
    let secret = setup(&app).await;
    let tokens = user_tokens(&base, "agent", &secret, "openid orders:read").await;
    let subject = tokens["access_token"].as_str().unwrap();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("resource", "https://c.api.example.com")],
            "invalid_target",
        ),
        (
            &[("audience", "https://c.api.example.com")],
            "invalid_target",
        ),
        (
            &[("resource", API_B), ("scope", "orders:write")],
            "invalid_scope",
        ),
        (&[("resource", API_B), ("scope", "admin")], "invalid_scope"),
    ];
    for (extra, error) in cases {
        let mut fields = vec![
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
        ];
        fields.extend_from_slice(extra);
        let (status, refused) = exchange(&base, "agent", &secret, &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra:?}: {refused}");
        assert_eq!(refused["error"], error, "{extra:?}");
    }
}

#[tokio::test]
async fn malformed_foreign_and_revoked_subject_tokens_are_refused() {
    let (app, base) = serve_app(&[]).await;
    let secret = setup(&app).await;
    let other_secret = app.client(agent("other")).await.unwrap();
    let tokens = user_tokens(&base, "agent", &secret, "openid orders:read").await;
    let subject = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();

    let invalid_requests: [&[(&str, &str)]; 8] = [
        &[("subject_token_type", ACCESS_TOKEN)],
        &[("subject_token", subject)],
        &[
            ("subject_token", subject),
            ("subject_token_type", "urn:x:saml"),
        ],
        &[
            ("subject_token", "not.a.jwt"),
            ("subject_token_type", ACCESS_TOKEN),
        ],
        // An ID token is not an access token, nor the reverse.
        &[
            ("subject_token", id_token),
            ("subject_token_type", ACCESS_TOKEN),
        ],
        &[("subject_token", subject), ("subject_token_type", ID_TOKEN)],
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            ),
        ],
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", subject),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    ];
    for fields in invalid_requests {
        let (status, refused) = exchange(&base, "agent", &secret, fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}: {refused}");
        assert_eq!(refused["error"], "invalid_request", "{fields:?}");
    }

    // Another client may not exchange what was issued to the agent and not meant for it.
    for (token, kind) in [(subject, ACCESS_TOKEN), (id_token, ID_TOKEN)] {
        let fields = [("subject_token", token), ("subject_token_type", kind)];
        let (status, refused) = exchange(&base, "other", &other_secret, &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["error"], "invalid_request");
    }

    // A client not registered for the grant.
    let web_secret = app.client(web_client("web", false)).await.unwrap();
    let fields = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
    ];
    let (status, refused) = exchange(&base, "web", &web_secret, &fields).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["error"], "unauthorized_client");

    // A revoked subject token is exchanged no more.
    let (status, _) = post_client_form(
        &base,
        "/revoke",
        "agent",
        Some(&secret),
        &[("token", subject)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = exchange(&base, "agent", &secret, &fields).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_request");

    // A public client cannot be registered for the grant at all.
    let mut public = agent("public");
    public.public = true;
    let refused = ostiary_core::admin::register_client(&*app.state.store, &SystemClock, public)
        .await
        .unwrap_err();
    let ostiary_core::AdminError::Invalid(refused) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(refused.field, "grant_type");
    assert!(
        refused
            .reason
            .contains("token exchange needs a confidential client")
    );
}

#[tokio::test]
async fn the_exchanged_token_never_outlives_its_subject() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let (app, base) = serve_app_with_clock(&[], clock.clone()).await;
    let secret = setup(&app).await;
    let tokens = user_tokens(&base, "agent", &secret, "openid orders:read").await;
    let subject = tokens["access_token"].as_str().unwrap();
    clock.advance(time::Duration::minutes(10));
    let fields = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", API_B),
    ];
    let (status, exchanged) = exchange(&base, "agent", &secret, &fields).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    assert_eq!(exchanged["expires_in"], 300, "15 minutes less the 10 gone");
    let claims = jwt_claims(exchanged["access_token"].as_str().unwrap());
    assert_eq!(claims["exp"], jwt_claims(subject)["exp"]);
    // Past its expiry (within the validator's leeway too) it is exchanged no more.
    clock.advance(time::Duration::minutes(5));
    let (status, refused) = exchange(&base, "agent", &secret, &fields).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_request");
}

/// Exchanges `id_token` of `agent` for a token for API B.
async fn exchange_id_token(base: &str, secret: &str, id_token: &str) -> (StatusCode, Value) {
    let fields = [
        ("subject_token", id_token),
        ("subject_token_type", ID_TOKEN),
        ("resource", API_B),
    ];
    exchange(base, "agent", secret, &fields).await
}

#[tokio::test]
async fn an_id_token_stands_for_its_grant_and_dies_with_it() {
    let (app, base) = serve_app(&[]).await;
    let secret = setup(&app).await;
    // Revoking the grant's refresh token revokes the grant: its ID token goes with it.
    let tokens = user_tokens(&base, "agent", &secret, "openid offline_access orders:read").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(
        exchange_id_token(&base, &secret, id_token).await.0,
        StatusCode::OK
    );
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = post_client_form(
        &base,
        "/revoke",
        "agent",
        Some(&secret),
        &[("token", refresh)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = exchange_id_token(&base, &secret, id_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_request");

    // Incident response: revoke-all ends every grant, and with them every ID token.
    let tokens = user_tokens(&base, "agent", &secret, "openid orders:read").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(
        exchange_id_token(&base, &secret, id_token).await.0,
        StatusCode::OK
    );
    app.state
        .store
        .revoke_everything(time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let (status, refused) = exchange_id_token(&base, &secret, id_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}

#[tokio::test]
async fn a_disabled_user_delegates_nothing_and_no_scope_is_no_token() {
    let (app, base) = serve_app(&[]).await;
    let secret = setup(&app).await;
    // A client whose scopes share nothing with the subject token gets no empty token.
    let mut stranger = agent("stranger");
    stranger.scopes = vec![Scope::parse("billing").unwrap()];
    stranger.introspect_audiences = vec![Audience::parse(API_A).unwrap()];
    let stranger_secret = app.client(stranger).await.unwrap();
    let tokens = user_tokens(&base, "agent", &secret, "openid orders:read").await;
    let subject = tokens["access_token"].as_str().unwrap();
    let fields = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", API_B),
    ];
    let (status, refused) = exchange(&base, "stranger", &stranger_secret, &fields).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_scope");

    let username = ostiary_core::user::Username::parse(crate::support::USER).unwrap();
    ostiary_core::admin::disable_user(&*app.state.store, &SystemClock, &username)
        .await
        .unwrap();
    let (status, refused) = exchange(&base, "agent", &secret, &fields).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_request");
}

/// A client of the API at `own` for the token exchange grant only: it introspects its own
/// tokens and may ask tokens for `next`.
fn api_client(id: &str, own: &str, next: &str) -> ClientRegistration {
    let mut api = agent(id);
    api.grant_types = vec![GrantType::TokenExchange];
    api.redirect_uris.clear();
    api.introspect_audiences = vec![Audience::parse(own).unwrap()];
    api.audiences = vec![Audience::parse(next).unwrap()];
    api
}

#[tokio::test]
async fn a_resource_server_acts_on_with_the_token_it_received() {
    let (app, base) = serve_app(&[]).await;
    let secret = setup(&app).await;
    let a_secret = app.client(api_client("api-a", API_A, API_B)).await.unwrap();
    let tokens = user_tokens(&base, "agent", &secret, "openid orders:read").await;
    let fields = [
        ("subject_token", tokens["access_token"].as_str().unwrap()),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", API_B),
    ];
    let (status, exchanged) = exchange(&base, "api-a", &a_secret, &fields).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let claims = jwt_claims(exchanged["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], "api-a");
    assert_eq!(claims["act"], serde_json::json!({ "sub": "api-a" }));

    // A second hop nests the first actor: B's client acts for the user after A.
    let b_secret = app.client(api_client("api-b", API_B, API_A)).await.unwrap();
    let fields = [
        ("subject_token", exchanged["access_token"].as_str().unwrap()),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", API_A),
    ];
    let (status, again) = exchange(&base, "api-b", &b_secret, &fields).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let claims = jwt_claims(again["access_token"].as_str().unwrap());
    assert_eq!(
        claims["act"],
        serde_json::json!({ "sub": "api-b", "act": { "sub": "api-a" } })
    );
}

/// Posts `fields` to `/token` as the client `machine`, with a `DPoP` header when given.
async fn post_as_machine(
    base: &str,
    secret: &str,
    fields: &[(&str, &str)],
    proof: Option<String>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth("machine", Some(secret))
        .form(fields);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_dpop_bound_subject_is_exchanged_only_with_its_key() {
    let (app, base) = serve_app(&[]).await;
    let mut machine = agent("machine");
    machine.grant_types = vec![GrantType::ClientCredentials, GrantType::TokenExchange];
    machine.redirect_uris.clear();
    let secret = app.client(machine).await.unwrap();
    let key = ClientKey::generate();
    let token_url = format!("{base}/token");
    let proof = |key: &ClientKey| Some(key.proof("POST", &token_url, None, None));
    let own = [
        ("grant_type", "client_credentials"),
        ("resource", API_A),
        ("scope", "orders:read"),
    ];
    let (status, bound) = post_as_machine(&base, &secret, &own, proof(&key)).await;
    assert_eq!(status, StatusCode::OK, "{bound}");
    assert_eq!(bound["token_type"], "DPoP");
    let subject = bound["access_token"].as_str().unwrap();
    let fields = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", API_B),
    ];
    for wrong in [None, proof(&ClientKey::generate())] {
        let (status, refused) = post_as_machine(&base, &secret, &fields, wrong).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["error"], "invalid_request");
    }
    let (status, exchanged) = post_as_machine(&base, &secret, &fields, proof(&key)).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    assert_eq!(exchanged["token_type"], "DPoP");
    assert_eq!(
        jwt_claims(exchanged["access_token"].as_str().unwrap())["cnf"],
        jwt_claims(subject)["cnf"]
    );
}

#[tokio::test]
async fn only_a_client_registered_for_it_impersonates() {
    let (app, base) = serve_app(&[]).await;
    add_user(&app).await;
    let mut twin = agent("twin");
    twin.impersonation = true;
    let secret = app.client(twin).await.unwrap();
    let tokens = user_tokens(&base, "twin", &secret, "openid orders:read").await;
    let subject = tokens["access_token"].as_str().unwrap();
    let fields = [
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", API_B),
    ];
    let (status, exchanged) = exchange(&base, "twin", &secret, &fields).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let claims = jwt_claims(exchanged["access_token"].as_str().unwrap());
    assert!(claims.get("act").is_none(), "{claims}");
    assert_eq!(claims["sub"], jwt_claims(subject)["sub"]);
    assert_eq!(claims["aud"], API_B);

    // The flag means nothing without the grant, and is refused so.
    let mut flag_only = web_client("flag-only", false);
    flag_only.impersonation = true;
    let refused = ostiary_core::admin::register_client(&*app.state.store, &SystemClock, flag_only)
        .await
        .unwrap_err();
    let ostiary_core::AdminError::Invalid(refused) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(refused.field, "impersonation");
}
