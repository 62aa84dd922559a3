//! `Interactions`: the browser's walk through login and consent, without HTTP. The request is
//! checked once at `begin`; each post is one `advance`; the walk ends with the redirect and
//! records its audit events itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::ErrorCode;
use ostiary_core::audit::AuditEventType;
use ostiary_core::authorize::Authorizer;
use ostiary_core::device::DeviceAuthorizations;
use ostiary_core::interaction::{
    AfterConsent, Answer, Browser, Credentials, Decision, Input, InteractionError, Interactions,
    LoginAttempts, Step,
};
use ostiary_core::login::UserAuthenticator;
use ostiary_core::mfa::SecondFactors;
use ostiary_core::password::PasswordHasher;
use ostiary_core::secret::SecretHash;
use ostiary_core::session::{SessionSettings, Sessions};
use sha2::{Digest, Sha256};
use time::Duration;

use crate::support::{Bench, ISSUER, REDIRECT_URI, Recorded, VERIFIER};

pub const PASSWORD: &str = "correct horse battery";

/// Counts what core reports to the brute-force limiter.
#[derive(Debug, Default)]
pub struct Counted {
    pub failed: AtomicU32,
    pub succeeded: AtomicU32,
}

#[async_trait::async_trait]
impl LoginAttempts for Counted {
    async fn failed(&self) -> bool {
        self.failed.fetch_add(1, Ordering::SeqCst);
        false
    }
    async fn succeeded(&self) {
        self.succeeded.fetch_add(1, Ordering::SeqCst);
    }
}

pub struct Walk {
    pub bench: Bench,
    pub interactions: Interactions,
    pub factors: Arc<SecondFactors>,
    pub audit: Arc<Recorded>,
}

async fn walk() -> Walk {
    walk_requiring_mfa(false).await
}

/// The interactions service; `mfa`: the server requires a second factor of every user.
pub async fn walk_requiring_mfa(mfa: bool) -> Walk {
    let bench = Bench::new().await;
    let audit = Arc::new(Recorded::default());
    let authorizer = Arc::new(
        Authorizer::new(
            bench.store.clone(),
            bench.tokens.clients(),
            bench.tokens.client_keys(),
            bench.clock.clone(),
            bench.keys.clone(),
            ISSUER.to_owned(),
        )
        .requiring_second_factors(mfa),
    );
    let sessions = Arc::new(Sessions::new(
        bench.store.clone(),
        bench.clock.clone(),
        SessionSettings {
            idle: Duration::hours(1),
            absolute: Duration::hours(8),
        },
    ));
    let authenticator =
        Arc::new(UserAuthenticator::new(PasswordHasher::insecure_fast_for_tests()).unwrap());
    let devices = Arc::new(DeviceAuthorizations::new(
        bench.store.clone(),
        bench.tokens.clients(),
        bench.clock.clone(),
        ISSUER,
    ));
    let factors = Arc::new(
        SecondFactors::new(
            bench.store.clone(),
            bench.clock.clone(),
            b"the root secret of these tests, 32+ chars",
            [],
            ISSUER,
        )
        .unwrap(),
    );
    let interactions = Interactions::new(
        bench.store.clone(),
        authorizer,
        devices,
        sessions,
        Credentials {
            passwords: authenticator,
            second_factors: factors.clone(),
        },
        audit.clone(),
        bench.clock.clone(),
    );
    Walk {
        bench,
        interactions,
        factors,
        audit,
    }
}

pub fn request(client_id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER));
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid orders:read"),
        ("state", "st-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    params
}

pub const BROWSER: Browser<'static> = Browser {
    binding: "the browser's csrf cookie",
    session_token: None,
    source_ip: Some("192.0.2.7"),
};

/// The interaction id of a login, second-factor or consent step.
pub fn id_of(answer: &Answer) -> String {
    match &answer.step {
        Step::Login {
            interaction: Some(id),
            ..
        }
        | Step::SecondFactor {
            interaction: id, ..
        }
        | Step::Consent {
            interaction: id, ..
        } => id.expose().to_owned(),
        other => panic!("no interaction in {other:?}"),
    }
}

pub fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn without_a_session_the_request_is_stored_and_the_login_page_shown() {
    let w = walk().await;
    let answer = w
        .interactions
        .begin(request("web", &[("login_hint", "alice")]), &BROWSER)
        .await
        .unwrap();
    assert!(answer.started.is_none());
    let Step::Login {
        client_name,
        username,
        failed,
        ..
    } = &answer.step
    else {
        panic!("{:?}", answer.step)
    };
    assert_eq!(client_name.as_deref(), Some("Web web"));
    assert_eq!(username, "alice");
    assert!(!failed);
    let id = id_of(&answer);
    let stored = w.bench.store.find_interaction(&SecretHash::of(&id)).await;
    let stored = stored.unwrap().expect("stored under the id's hash");
    assert!(stored.binding_hash.verify(BROWSER.binding));
    assert!(!stored.state.contains(&id), "the id itself is not stored");
}

#[tokio::test]
async fn password_then_consent_then_a_code_for_the_client() {
    let w = walk().await;
    let first = w.interactions.begin(request("web", &[]), &BROWSER).await;
    let id = id_of(&first.unwrap());
    let attempts = Counted::default();
    let input = Input::Password {
        username: "alice",
        password: PASSWORD,
        attempts: &attempts,
    };
    let consent = w
        .interactions
        .advance(Some(&id), &BROWSER, input)
        .await
        .unwrap();
    assert_eq!(attempts.succeeded.load(Ordering::SeqCst), 1);
    let token = consent.started.expect("a session was started");
    let Step::Consent {
        username,
        scopes,
        after,
        ..
    } = &consent.step
    else {
        panic!("{:?}", consent.step)
    };
    assert_eq!(username, "alice");
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["openid", "orders:read"]);
    assert_eq!(
        after,
        &AfterConsent::Redirect {
            host: "app.example.test".to_owned()
        }
    );
    let signed_in = Browser {
        session_token: Some(token.expose()),
        ..BROWSER
    };
    let done = w
        .interactions
        .advance(Some(&id), &signed_in, Input::Decision(Decision::Approve))
        .await
        .unwrap();
    let Step::Redirect(url) = &done.step else {
        panic!("{:?}", done.step)
    };
    assert!(url.starts_with(REDIRECT_URI), "{url}");
    assert!(query(url, "code").is_some(), "{url}");
    assert_eq!(query(url, "state").as_deref(), Some("st-1"));
    assert_eq!(query(url, "iss").as_deref(), Some(ISSUER));
    assert_eq!(
        w.audit.types(),
        [
            AuditEventType::LoginSucceeded,
            AuditEventType::ConsentGranted
        ]
    );
    // Finished: the interaction is gone.
    let again = w
        .interactions
        .advance(Some(&id), &signed_in, Input::Decision(Decision::Approve))
        .await;
    assert!(matches!(again, Err(InteractionError::Expired)), "{again:?}");
}

#[tokio::test]
async fn a_wrong_password_is_counted_audited_and_asked_again() {
    let w = walk().await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    let attempts = Counted::default();
    let answer = w
        .interactions
        .advance(
            Some(&id),
            &BROWSER,
            Input::Password {
                username: "alice",
                password: "wrong horse",
                attempts: &attempts,
            },
        )
        .await
        .unwrap();
    assert!(answer.started.is_none());
    assert!(
        matches!(&answer.step, Step::Login { failed: true, username, .. } if username == "alice")
    );
    assert_eq!(id_of(&answer), id, "the same interaction goes on");
    assert_eq!(attempts.failed.load(Ordering::SeqCst), 1);
    assert_eq!(attempts.succeeded.load(Ordering::SeqCst), 0);
    let events = w.audit.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, AuditEventType::LoginFailed);
    assert_eq!(
        events[0].reason.as_deref(),
        Some("wrong_password_or_disabled")
    );
    assert_eq!(events[0].source_ip.as_deref(), Some("192.0.2.7"));
}

#[tokio::test]
async fn another_browser_or_a_late_post_cannot_advance_it() {
    let w = walk().await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    let attempts = Counted::default();
    let password = || Input::Password {
        username: "alice",
        password: PASSWORD,
        attempts: &attempts,
    };
    let elsewhere = Browser {
        binding: "another browser's csrf cookie",
        ..BROWSER
    };
    let stolen = w
        .interactions
        .advance(Some(&id), &elsewhere, password())
        .await;
    assert!(
        matches!(stolen, Err(InteractionError::Expired)),
        "{stolen:?}"
    );
    w.bench.clock.advance(Duration::minutes(16));
    let late = w
        .interactions
        .advance(Some(&id), &BROWSER, password())
        .await;
    assert!(matches!(late, Err(InteractionError::Expired)), "{late:?}");
    assert_eq!(
        attempts.succeeded.load(Ordering::SeqCst),
        0,
        "no password was checked"
    );
    assert!(w.audit.types().is_empty());
}

#[tokio::test]
async fn an_unknown_client_is_shown_and_a_bad_parameter_goes_back_to_the_client() {
    let w = walk().await;
    let unknown = w.interactions.begin(request("nobody", &[]), &BROWSER).await;
    let Err(InteractionError::Invalid(error)) = unknown else {
        panic!("{unknown:?}")
    };
    assert_eq!(error.code(), ErrorCode::InvalidRequest);
    let bad = w
        .interactions
        .begin(request("web", &[("prompt", "none")]), &BROWSER)
        .await
        .unwrap();
    let Step::Redirect(url) = &bad.step else {
        panic!("{:?}", bad.step)
    };
    assert_eq!(query(url, "error").as_deref(), Some("login_required"));
    assert_eq!(query(url, "state").as_deref(), Some("st-1"));
}

#[tokio::test]
async fn denying_sends_access_denied_back() {
    let w = walk().await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    let attempts = Counted::default();
    let consent = w
        .interactions
        .advance(
            Some(&id),
            &BROWSER,
            Input::Password {
                username: "alice",
                password: PASSWORD,
                attempts: &attempts,
            },
        )
        .await
        .unwrap();
    let token = consent.started.unwrap();
    let signed_in = Browser {
        session_token: Some(token.expose()),
        ..BROWSER
    };
    let denied = w
        .interactions
        .advance(Some(&id), &signed_in, Input::Decision(Decision::Deny))
        .await
        .unwrap();
    let Step::Redirect(url) = &denied.step else {
        panic!("{:?}", denied.step)
    };
    assert_eq!(query(url, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(url, "code"), None);
    assert!(!w.audit.types().contains(&AuditEventType::ConsentGranted));
}

/// The password step of `id` for alice.
async fn log_in(w: &Walk, id: &str) -> Result<Answer, InteractionError> {
    let attempts = Counted::default();
    let input = Input::Password {
        username: "alice",
        password: PASSWORD,
        attempts: &attempts,
    };
    w.interactions.advance(Some(id), &BROWSER, input).await
}

#[tokio::test]
async fn a_client_narrowed_during_the_walk_ends_it() {
    let w = walk().await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    // The operator re-registers the client without the redirect URI the request named.
    let web = ostiary_core::client::ClientId::parse("web").unwrap();
    assert!(w.bench.store.delete_client(&web).await.unwrap());
    let mut narrowed = crate::support::web_registration("web");
    narrowed.redirect_uris = vec![
        ostiary_core::client::RedirectUri::parse(
            "https://other.example.test/cb",
            ostiary_core::client::UriPolicy {
                allow_insecure_http: false,
            },
        )
        .unwrap(),
    ];
    w.bench.client(narrowed).await;
    let answer = log_in(&w, &id).await;
    assert!(
        matches!(answer, Err(InteractionError::Expired)),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_login_form_posted_twice_gets_a_code_per_post_that_found_it() {
    let w = walk().await;
    let mut registration = crate::support::web_registration("trusted");
    registration.skip_consent = true;
    w.bench.client(registration).await;
    let id = id_of(
        &w.interactions
            .begin(request("trusted", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    let (first, second) = tokio::join!(log_in(&w, &id), log_in(&w, &id));
    // Each post that found the interaction gets its own code; a post that arrives after the
    // other one finished finds the walk over (as a third post would), never an error.
    let code = |answer: Result<Answer, InteractionError>| match answer {
        Ok(Answer {
            step: Step::Redirect(url),
            ..
        }) => Some(query(&url, "code").expect("a code")),
        Err(InteractionError::Expired) => None,
        other => panic!("{other:?}"),
    };
    match (code(first), code(second)) {
        (Some(a), Some(b)) => assert_ne!(a, b),
        (Some(_), None) | (None, Some(_)) => {}
        (None, None) => panic!("neither post was answered with a code"),
    }
}
