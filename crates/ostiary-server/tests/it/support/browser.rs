//! A browser over a real listener: cookies, the login and consent forms, and the redirects of
//! the authorization code flow, with the few HTML helpers the server's templates need.

use std::sync::Arc;

use super::{USER, USER_PASSWORD, code_request, pkce};

/// A response as a browser sees it.
#[derive(Debug)]
pub struct Page {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<url::Url> {
        let value = self.headers.get(reqwest::header::LOCATION)?;
        Some(url::Url::parse(value.to_str().expect("ascii Location")).expect("absolute Location"))
    }

    /// The one value of a query parameter of the `Location` header.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        query_param(&self.location()?, name)
    }

    /// The value of the (first) `<input>` named `name`, HTML entities decoded.
    pub fn input(&self, name: &str) -> Option<String> {
        html_inputs(&self.body)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    pub fn is_login_form(&self) -> bool {
        self.body.contains(r#"action="/login""#) && self.input("password").is_some()
    }

    pub fn is_consent_form(&self) -> bool {
        self.body.contains(r#"action="/consent""#) && self.body.contains(r#"name="decision""#)
    }

    pub fn is_html(&self) -> bool {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    }

    /// Whether the response sets (not removes) the cookie `name`, with or without `__Host-`.
    pub fn sets_cookie(&self, name: &str) -> bool {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                let v = v.strip_prefix("__Host-").unwrap_or(v);
                v.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('='))
                    .is_some_and(|rest| !rest.starts_with(';') && !rest.is_empty())
            })
    }
}

/// The one value of the query parameter `name` (panics if repeated).
pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    let values: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect();
    assert!(values.len() <= 1, "{name} repeated in {url}");
    values.into_iter().next()
}

/// `(name, value)` of every `<input>` of an HTML page, entities decoded. Enough for the
/// server's own templates: attributes are double-quoted.
pub fn html_inputs(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let needle = format!(" {name}=\"");
        let start = tag.find(&needle)? + needle.len();
        let end = tag[start..].find('"')? + start;
        Some(html_unescape(&tag[start..end]))
    };
    html.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let name = attribute(tag, "name")?;
            Some((name, attribute(tag, "value").unwrap_or_default()))
        })
        .collect()
}

/// Decodes the character references an HTML escaper produces (`&amp;`, `&#38;`, `&#x26;`...).
pub fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A browser: a cookie store, no redirects followed (so `Location` can be read).
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("browser");
        Self {
            http,
            jar,
            base: base.to_owned(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// The cookies the browser would send to the server, as one `Cookie` header value.
    pub fn cookies(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = url::Url::parse(&self.base).expect("base url");
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().expect("ascii cookies").to_owned())
            .unwrap_or_default()
    }

    pub fn has_session_cookie(&self) -> bool {
        self.cookies()
            .split("; ")
            .any(|c| c.starts_with("ostiary_session=") || c.starts_with("__Host-ostiary_session="))
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path_or_url: &str) -> Page {
        let response = self
            .http
            .get(self.url(path_or_url))
            .send()
            .await
            .expect("GET");
        Self::page(response).await
    }

    pub async fn post(&self, path: &str, fields: &[(String, String)]) -> Page {
        let response = self
            .http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST");
        Self::page(response).await
    }

    /// `GET /authorize` with these parameters.
    pub async fn authorize(&self, params: &[(String, String)]) -> Page {
        let mut url = url::Url::parse(&format!("{}/authorize", self.base)).expect("url");
        url.query_pairs_mut().extend_pairs(params);
        self.get(url.as_str()).await
    }

    /// Submits the login form of `page` (its hidden fields) with these credentials.
    pub async fn submit_login(&self, page: &Page, username: &str, password: &str) -> Page {
        assert!(
            page.is_login_form(),
            "not a login page: {} {}",
            page.status,
            page.body
        );
        let mut fields = vec![
            ("csrf".to_owned(), page.input("csrf").expect("csrf field")),
            ("username".to_owned(), username.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ];
        // Absent when no application is waiting (the login page of GET /login).
        if let Some(interaction) = page.input("interaction") {
            fields.push(("interaction".to_owned(), interaction));
        }
        self.post("/login", &fields).await
    }

    /// Submits the consent form of `page` with `decision` (`approve` or `deny`).
    pub async fn submit_consent(&self, page: &Page, decision: &str) -> Page {
        assert!(
            page.is_consent_form(),
            "not a consent page: {} {}",
            page.status,
            page.body
        );
        let fields = vec![
            ("csrf".to_owned(), page.input("csrf").expect("csrf field")),
            (
                "interaction".to_owned(),
                page.input("interaction").expect("interaction field"),
            ),
            ("decision".to_owned(), decision.to_owned()),
        ];
        self.post("/consent", &fields).await
    }

    /// The device verification page (RFC 8628 3.3) as a user meets it: opens `path` (`/device`,
    /// or a `verification_uri_complete`) and submits its form with `user_code`.
    pub async fn enter_user_code(&self, path: &str, user_code: &str) -> Page {
        let form = self.get(path).await;
        assert_eq!(form.status, reqwest::StatusCode::OK, "{}", form.body);
        assert!(form.body.contains(r#"action="/device""#), "{}", form.body);
        let fields = vec![
            ("csrf".to_owned(), form.input("csrf").expect("csrf field")),
            ("user_code".to_owned(), user_code.to_owned()),
        ];
        self.post("/device", &fields).await
    }

    /// Follows an authorization request as a user would: the login page (if shown), the
    /// consent page (if shown, approved), up to the redirect to the client, which is returned.
    pub async fn sign_in_and_approve(&self, params: &[(String, String)]) -> Page {
        let mut page = self.authorize(params).await;
        if page.is_login_form() {
            page = self.submit_login(&page, USER, USER_PASSWORD).await;
        }
        if page.is_consent_form() {
            page = self.submit_consent(&page, "approve").await;
        }
        assert_eq!(
            page.status,
            reqwest::StatusCode::SEE_OTHER,
            "expected the redirect to the client: {}",
            page.body
        );
        page
    }

    /// Whether this browser is signed in at `base` as far as `client_id` (a client that needs
    /// no consent) can tell: `prompt=none` gets a code, not `login_required`.
    pub async fn signed_in(&self, base: &str, client_id: &str) -> bool {
        let (challenge, _) = pkce();
        let mut params = code_request(client_id, "openid", "st", &challenge);
        params.push(("prompt".into(), "none".into()));
        let mut url = url::Url::parse(&format!("{base}/authorize")).expect("url");
        url.query_pairs_mut().extend_pairs(&params);
        let page = self.get(url.as_str()).await;
        assert_eq!(page.status, reqwest::StatusCode::SEE_OTHER, "{}", page.body);
        match page.redirect_param("error").as_deref() {
            None => page.redirect_param("code").is_some(),
            Some("login_required") => false,
            Some(other) => panic!("unexpected {other}"),
        }
    }

    /// A code for `client_id` and `scope` after signing in and approving: (code, verifier).
    pub async fn obtain_code(&self, client_id: &str, scope: &str) -> (String, String) {
        let (challenge, verifier) = pkce();
        let page = self
            .sign_in_and_approve(&code_request(client_id, scope, "st", &challenge))
            .await;
        assert_eq!(page.redirect_param("error"), None, "{:?}", page.location());
        let code = page.redirect_param("code").expect("code in the redirect");
        (code, verifier)
    }
}
