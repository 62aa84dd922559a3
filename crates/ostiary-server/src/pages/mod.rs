//! Server-rendered HTML: the login, second-factor, consent and message pages (askama templates with
//! auto-escaping; no scripts), each answered with the page security headers.

mod error;
pub mod flow;
mod headers;

pub use error::PageError;
pub use headers::{favicon, html_security_headers, stylesheet};

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ostiary_core::interaction::Enrollment;

/// One scope on the consent page, with a plain-language description where it is a standard one.
#[derive(Debug)]
pub struct ScopeLine {
    pub name: String,
    pub description: Option<&'static str>,
}

impl ScopeLine {
    pub fn new(name: &str) -> Self {
        let description = match name {
            "openid" => Some("Know who you are (your user id)."),
            "profile" => Some("See your username."),
            "email" => Some("See your email address."),
            "offline_access" => Some("Keep access while you are not signed in."),
            _ => None,
        };
        Self {
            name: name.to_owned(),
            description,
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub client_name: Option<&'a str>,
    pub error: Option<&'a str>,
    pub username: &'a str,
    pub csrf: &'a str,
    /// The interaction this login continues (none: no application is waiting).
    pub interaction: Option<&'a str>,
}

#[derive(Debug, Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    /// The host serving a metadata document client's document: who vouches for it.
    pub client_host: Option<&'a str>,
    pub username: &'a str,
    pub scopes: Vec<ScopeLine>,
    /// Where the browser returns; `None` for a device's request (RFC 8628).
    pub redirect_host: Option<&'a str>,
    /// A device's request: the user code to compare with the device's screen, shown with
    /// the phishing warning.
    pub user_code: Option<&'a str>,
    pub csrf: &'a str,
    /// The interaction the decision belongs to.
    pub interaction: &'a str,
}

/// The second-factor page: the `otp` input, with the key to add first when the user enrols.
#[derive(Debug, Template)]
#[template(path = "otp.html")]
pub struct SecondFactorPage<'a> {
    pub client_name: Option<&'a str>,
    /// The key to add to an app, when the user has none yet.
    pub enrollment: Option<&'a Enrollment>,
    /// Its key URI as a QR code to scan: inline SVG made by [`qr_svg`], nothing the user
    /// typed can reach its markup.
    pub qr_svg: Option<&'a str>,
    /// The previous code was wrong or already used.
    pub failed: bool,
    pub csrf: &'a str,
    /// The interaction the code belongs to.
    pub interaction: &'a str,
}

/// An inline SVG QR code of `text` (a TOTP key URI, about 150 bytes), at least 200 pixels
/// wide; `None` if it does not fit a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // The renderer opens with an XML declaration, which has no place inside an HTML page.
    svg.find("<svg").map(|start| svg[start..].to_owned())
}

/// The device verification page (RFC 8628 3.3): the form with the `user_code` input.
#[derive(Debug, Template)]
#[template(path = "device.html")]
pub struct DevicePage<'a> {
    /// Pre-filled from `verification_uri_complete`, or what was typed before a failure.
    pub user_code: &'a str,
    pub error: Option<&'a str>,
    pub csrf: &'a str,
}

#[derive(Debug, Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub client_name: Option<&'a str>,
    pub csrf: &'a str,
    /// The logout request's parameters, carried to the confirmation.
    pub params: Vec<(&'static str, &'a str)>,
}

#[derive(Debug, Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub text: &'a str,
    pub is_error: bool,
}

/// A rendered page with its status. Pages carry forms with CSRF tokens: never cached.
pub fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title>"),
            )
                .into_response()
        }
    }
}

/// An error shown to the user instead of being sent to a client (the client or redirect
/// URI could not be trusted, or the user's own request was bad).
pub fn error_page(status: StatusCode, text: &str) -> Response {
    page(
        status,
        &MessagePage {
            title: "Something went wrong",
            text,
            is_error: true,
        },
    )
}

pub fn message_page(title: &str, text: &str) -> Response {
    page(
        StatusCode::OK,
        &MessagePage {
            title,
            text,
            is_error: false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let html = LoginPage {
            client_name: Some("<script>alert(1)</script>"),
            error: None,
            username: "\"><img src=x>",
            csrf: "c",
            interaction: Some("\"><b>"),
        }
        .render()
        .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("\"><img"), "{html}");
        assert!(!html.contains("\"><b>"), "{html}");
        assert!(html.contains("name=\"interaction\""));
        assert!(html.contains("name=\"username\""));
        assert!(html.contains("name=\"password\""));
        assert!(html.contains("name=\"csrf\""));
    }

    #[test]
    fn the_second_factor_page_posts_otp_and_shows_a_key_to_enrol_with_its_qr_code() {
        let enrollment = Enrollment {
            secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".into(),
            key_uri: "otpauth://totp/issuer:a%22%3E?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".into(),
        };
        let qr = qr_svg(&enrollment.key_uri).unwrap();
        assert!(qr.starts_with("<svg"), "{qr}");
        let html = SecondFactorPage {
            client_name: Some("<b>App</b>"),
            enrollment: Some(&enrollment),
            qr_svg: Some(&qr),
            failed: true,
            csrf: "c",
            interaction: "i",
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"action="/login/otp""#));
        assert!(html.contains(r#"name="otp""#));
        assert!(html.contains(r#"autocomplete="one-time-code""#));
        assert!(html.contains(r#"id="totp-secret">GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ<"#));
        assert!(html.contains("<svg"), "the QR code is inline");
        assert!(!html.contains("<?xml"));
        assert!(!html.contains("<b>App</b>"), "the name is escaped");
        assert!(html.contains("not right"));
        let plain = SecondFactorPage {
            client_name: None,
            enrollment: None,
            qr_svg: None,
            failed: false,
            csrf: "c",
            interaction: "i",
        }
        .render()
        .unwrap();
        assert!(!plain.contains("totp-secret") && !plain.contains("<svg"));
        assert!(!plain.contains("not right"));
    }

    #[test]
    fn consent_has_both_decisions() {
        let html = ConsentPage {
            client_name: "App",
            client_host: None,
            username: "alice",
            scopes: vec![ScopeLine::new("openid"), ScopeLine::new("custom")],
            redirect_host: Some("app.example"),
            user_code: None,
            csrf: "c",
            interaction: "i",
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"name="decision" value="approve""#));
        assert!(html.contains(r#"name="decision" value="deny""#));
        assert!(html.contains("Know who you are"));
        assert!(html.contains("sent back to app.example"));
        assert!(!html.contains("own device"));
        assert!(!html.contains("Published by"));
    }

    #[test]
    fn a_metadata_document_client_shows_its_host_apart_from_its_claimed_name() {
        let html = ConsentPage {
            client_name: "<b>Your Bank</b>",
            client_host: Some("agent.example.com"),
            username: "alice",
            scopes: vec![],
            redirect_host: Some("agent.example.com"),
            user_code: None,
            csrf: "c",
            interaction: "i",
        }
        .render()
        .unwrap();
        assert!(
            html.contains(r#"Published by <strong class="host">agent.example.com</strong>"#),
            "{html}"
        );
        assert!(html.contains("own claim"));
        assert!(!html.contains("<b>Your Bank</b>"), "the name is escaped");
    }

    #[test]
    fn a_device_consent_warns_against_codes_from_others() {
        let html = ConsentPage {
            client_name: "TV",
            client_host: None,
            username: "alice",
            scopes: vec![],
            redirect_host: None,
            user_code: Some("BCDF-GHJK"),
            csrf: "c",
            interaction: "i",
        }
        .render()
        .unwrap();
        assert!(html.contains("Only continue if you started this on your own device"));
        assert!(html.contains("BCDF-GHJK"));
        assert!(!html.contains("sent back"));
        assert!(html.contains(r#"name="decision" value="approve""#));
    }

    #[test]
    fn the_device_page_asks_for_the_user_code() {
        let html = DevicePage {
            user_code: "\"><b>",
            error: Some("<i>"),
            csrf: "c",
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"name="user_code""#));
        assert!(html.contains(r#"action="/device""#));
        assert!(!html.contains("\"><b>") && !html.contains("<i>"), "{html}");
    }
}
