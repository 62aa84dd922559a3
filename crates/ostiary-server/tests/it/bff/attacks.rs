//! What the BFF refuses: cross-site and cross-origin calls, calls without the CSRF header,
//! paths that try to leave an upstream, forged callbacks and open redirects.

use super::*;

#[tokio::test]
async fn calls_without_the_csrf_header_or_from_another_origin_are_refused() {
    let setup = setup(Backend::Sqlite, None).await.unwrap();
    let cookie = setup.sign_in().await;
    let url = format!("{}/api/orders/echo", setup.bff);
    // What a cross-site form can send: the cookie (were SameSite not there), no custom header.
    let form = setup
        .http
        .post(&url)
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body("a=1")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    let cases: [(&str, Option<&str>, Option<&str>); 4] = [
        ("no CSRF header", None, Some(&setup.bff)),
        ("another origin", Some("1"), Some("http://evil.example")),
        ("no origin on a POST", Some("1"), None),
        ("a wrong CSRF value", Some("yes"), Some(&setup.bff)),
    ];
    for (case, csrf, origin) in cases {
        let mut request = setup.http.post(&url).header("cookie", &cookie).body("x");
        if let Some(csrf) = csrf {
            request = request.header("x-csrf", csrf);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "forbidden", "{case}");
    }
    // Only the methods of an API are forwarded.
    let trace = setup
        .call(
            reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            "/api/orders/echo",
            &cookie,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(trace.status(), StatusCode::METHOD_NOT_ALLOWED);
    // /bff/user asks for the header too, and logout for the origin.
    let user = setup
        .http
        .get(format!("{}/bff/user", setup.bff))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::FORBIDDEN);
    let logout = setup
        .http
        .post(format!("{}/bff/logout", setup.bff))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);
    // The session survived every refused attempt.
    let user = setup
        .call(reqwest::Method::GET, "/bff/user", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::OK);
}

/// Sends `path` byte for byte (HTTP clients normalise dot segments away); the status code.
async fn raw_get(base: &str, path: &str, cookie: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nX-CSRF: 1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn paths_that_try_to_leave_the_upstream_are_refused() {
    let setup = setup(Backend::Sqlite, None).await.unwrap();
    let cookie = setup.sign_in().await;
    assert_eq!(
        raw_get(&setup.bff, "/api/orders/orders", &cookie).await,
        200
    );
    for path in [
        "/api/orders/../orders",
        "/api/orders/x/../../admin",
        "/api/orders/%2e%2e/admin",
        "/api/orders/x%2f..%2f..%2fadmin",
        "/api/orders/x%5c..%5cadmin",
        "/api/orders/%252e%252e/admin",
        "/api/orders//evil.example/orders",
        "/api/orders/http://evil.example/orders",
        "/api/orders/x/..;/..;/admin",
        "/api/orders/%c0%ae%c0%ae/admin",
    ] {
        assert_eq!(raw_get(&setup.bff, path, &cookie).await, 400, "{path}");
    }
    for path in [
        "/api/other/orders",
        "/api/..%2forders/orders",
        "http://evil.example/api/x",
    ] {
        assert_eq!(raw_get(&setup.bff, path, &cookie).await, 404, "{path}");
    }
    // An absolute URL in the request line is the BFF's own path, never a target.
    let absolute = "http://evil.example/api/orders/orders";
    assert_eq!(raw_get(&setup.bff, absolute, &cookie).await, 200);
}

#[tokio::test]
async fn a_forged_or_foreign_callback_is_refused() {
    let setup = setup(Backend::Sqlite, None).await.unwrap();
    // No sign-in in progress: a code alone is refused.
    let forged = setup
        .http
        .get(format!("{}/bff/callback?code=abc&state=xyz", setup.bff))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    // A sign-in in progress, answered with another state or another issuer.
    let start = setup
        .http
        .get(format!("{}/bff/login", setup.bff))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie(&start, "__Host-ostiary-bff-login").unwrap();
    let login_cookie = format!(
        "__Host-ostiary-bff-login={}",
        login_cookie.split(';').next().unwrap()
    );
    for query in ["code=abc&state=wrong", "code=abc"] {
        let response = setup
            .http
            .get(format!("{}/bff/callback?{query}", setup.bff))
            .header("cookie", &login_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    // Malformed input gets the BFF's JSON error, never a bare framework message.
    let duplicated = setup
        .http
        .get(format!("{}/bff/callback?state=a&state=b", setup.bff))
        .send()
        .await
        .unwrap();
    let json_post = setup
        .http
        .post(format!("{}/bff/backchannel-logout", setup.bff))
        .json(&json!({"logout_token": "x"}))
        .send()
        .await
        .unwrap();
    let unknown = setup
        .http
        .get(format!("{}/bff/nothing", setup.bff))
        .send()
        .await
        .unwrap();
    for (response, status, error) in [
        (duplicated, StatusCode::BAD_REQUEST, "invalid_request"),
        (json_post, StatusCode::BAD_REQUEST, "invalid_request"),
        (unknown, StatusCode::NOT_FOUND, "not_found"),
    ] {
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error);
    }
    // A return_to elsewhere is replaced by the SPA's root.
    for elsewhere in [
        "//evil.example/x",
        "https://evil.example/",
        "/%5Cevil.example",
    ] {
        let (_, back_to, _) = setup.sign_in_returning(elsewhere).await;
        assert_eq!(back_to, "/", "{elsewhere}");
    }
}
