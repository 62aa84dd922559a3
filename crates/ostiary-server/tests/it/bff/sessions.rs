//! How sessions live and end: one refresh however many calls race, the end of a refresh
//! token's family, refusals that are not the session's fault, back-channel logout.

use super::*;

#[tokio::test]
async fn racing_calls_refresh_once_and_a_revoked_family_ends_the_session() {
    // Tokens of 10 s: every call finds its token too close to expiry and refreshes.
    let setup = setup(Backend::Sqlite, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    let cookie = setup.sign_in().await;
    let calls = futures::future::join_all((0..6).map(|_| {
        setup
            .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
            .send()
    }))
    .await;
    for call in calls {
        // A refresh token presented twice would have revoked the family: every call got
        // through, so each refresh presented the current one.
        assert_eq!(call.unwrap().status(), StatusCode::OK);
    }
    let again = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    // The user is disabled at the server: the next refresh is refused and the session ends.
    ostiary_core::admin::disable_user(
        &*setup.app.state.store,
        &SystemClock,
        &ostiary_core::user::Username::parse(USER).unwrap(),
    )
    .await
    .unwrap();
    let ended = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::UNAUTHORIZED);
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::UNAUTHORIZED);
}

/// A logout token (Back-Channel Logout 1.0 section 2.4) for the BFF's client, signed by `key`.
fn logout_token(
    setup: &Setup,
    key: &ostiary_jwt::SigningKey,
    sid: Option<&str>,
    sub: Option<&str>,
) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": setup.as_base,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": format!("logout-{now}-{sid:?}-{sub:?}"),
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    if let Some(sid) = sid {
        claims["sid"] = sid.into();
    }
    if let Some(sub) = sub {
        claims["sub"] = sub.into();
    }
    ostiary_jwt::encode(key, "logout+jwt", &claims).unwrap()
}

#[tokio::test]
async fn back_channel_logout_ends_the_sessions_it_names() {
    let setup = setup(Backend::Sqlite, None).await.unwrap();
    let first = setup.sign_in().await;
    let second = setup.sign_in().await;
    let stored = |cookie: &str| {
        let id = cookie.split_once('=').unwrap().1.to_owned();
        let store = setup.app.state.store.clone();
        async move { store.find_bff_session(&SecretHash::of(&id)).await.unwrap() }
    };
    let sid = stored(&first)
        .await
        .unwrap()
        .sid
        .expect("the ID token's sid");
    let sub = stored(&first).await.unwrap().sub;
    let snapshot = setup.app.state.tokens.keys().current();
    let server_key = [ostiary_jwt::Algorithm::Es256, ostiary_jwt::Algorithm::Rs256]
        .into_iter()
        .find_map(|alg| snapshot.signing_key(alg))
        .unwrap();
    let post = |token: String| {
        setup
            .http
            .post(format!("{}/bff/backchannel-logout", setup.bff))
            .form(&[("logout_token", token)])
            .send()
    };
    // A token the server did not sign ends nothing.
    let stranger = ostiary_jwt::SigningKey::generate(ostiary_jwt::Algorithm::Es256).unwrap();
    let forged = post(logout_token(&setup, &stranger, Some(&sid), None))
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(stored(&first).await.is_some());
    // The server's token for the first session's sid ends that one only.
    let token = logout_token(&setup, server_key, Some(&sid), None);
    let by_sid = post(token.clone()).await.unwrap();
    assert_eq!(by_sid.status(), StatusCode::OK);
    // A logout token is used once.
    let replayed = post(token).await.unwrap();
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert!(stored(&first).await.is_none());
    assert!(stored(&second).await.is_some());
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::UNAUTHORIZED);
    // A token naming the subject alone ends the rest of the user's sessions.
    let by_sub = post(logout_token(&setup, server_key, None, Some(&sub)))
        .await
        .unwrap();
    assert_eq!(by_sub.status(), StatusCode::OK);
    assert!(stored(&second).await.is_none());
}

#[tokio::test]
async fn a_refresh_refused_for_another_reason_than_the_grant_keeps_the_session() {
    let setup = setup(Backend::Sqlite, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    let cookie = setup.sign_in().await;
    // The client's secret is rotated at the server before the BFF is given the new one: its
    // refreshes fail as invalid_client, which says nothing about the user's session.
    ostiary_core::admin::rotate_secret(
        &*setup.app.state.store,
        &SystemClock,
        &ClientId::parse(CLIENT_ID).unwrap(),
        None,
    )
    .await
    .unwrap();
    // The server's client cache holds a client for a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let call = setup
        .call(reqwest::Method::GET, "/api/orders/orders", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(call.headers().contains_key("retry-after"));
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::OK);
}
