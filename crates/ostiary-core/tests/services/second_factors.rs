//! Second factors in the browser's walk: an enrolled user's code before their session, the
//! enrolment a client or the server requires, and the bounds on guessing.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ostiary_core::Clock;
use ostiary_core::ErrorCode;
use ostiary_core::audit::AuditEventType;
use ostiary_core::interaction::{Answer, Browser, CodeAttempts, Input, InteractionError, Step};
use ostiary_core::mfa::{MAX_CODE_FAILURES, OneTimeCode, SecondFactors, TotpSecret, Verified};
use ostiary_core::secret::SecretHash;
use ostiary_core::session::Session;

use crate::interactions::{
    BROWSER, Counted, PASSWORD, Walk, id_of, query, request, walk_requiring_mfa,
};
use crate::support::{refresh_token, refused, web_registration};

/// Counts what core reports about codes, for the account it names; locks out when told to.
#[derive(Debug, Default)]
struct Codes {
    failed: AtomicU32,
    succeeded: AtomicU32,
    locked: bool,
}

#[async_trait::async_trait]
impl CodeAttempts for Codes {
    async fn retry_after(&self, account: &str) -> Option<Duration> {
        assert_eq!(account, "alice", "core names the account");
        self.locked.then(|| Duration::from_secs(60))
    }
    async fn failed(&self, _: &str) {
        self.failed.fetch_add(1, Ordering::SeqCst);
    }
    async fn succeeded(&self, _: &str) {
        self.succeeded.fetch_add(1, Ordering::SeqCst);
    }
}

/// Alice's key, enrolled as an operator would.
async fn enrolled(w: &Walk) -> TotpSecret {
    let secret = TotpSecret::generate();
    assert!(
        w.factors
            .enroll(&w.bench.user, &secret, None)
            .await
            .unwrap()
    );
    secret
}

fn code_now(w: &Walk, secret: &TotpSecret) -> String {
    secret.code_at_time(w.bench.clock.now_seconds().unix_timestamp())
}

async fn password(w: &Walk, id: Option<&str>, attempts: &Counted) -> Answer {
    let input = Input::Password {
        username: "alice",
        password: PASSWORD,
        attempts,
    };
    w.interactions.advance(id, &BROWSER, input).await.unwrap()
}

async fn code(
    w: &Walk,
    id: &str,
    browser: &Browser<'_>,
    otp: &str,
    attempts: &Codes,
) -> Result<Answer, InteractionError> {
    let input = Input::Code { otp, attempts };
    w.interactions.advance(Some(id), browser, input).await
}

async fn session(w: &Walk, answer: &Answer) -> Session {
    let token = answer.started.as_ref().expect("a session started");
    let hash = SecretHash::of(token.expose());
    w.bench.store.find_session(&hash).await.unwrap().unwrap()
}

#[tokio::test]
async fn an_enrolled_user_gives_a_code_before_any_session_starts() {
    let w = walk_requiring_mfa(false).await;
    let secret = enrolled(&w).await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    let logins = Counted::default();
    let asked = password(&w, Some(&id), &logins).await;
    assert!(asked.started.is_none(), "the password alone starts nothing");
    assert_eq!(
        logins.succeeded.load(Ordering::SeqCst),
        0,
        "no counter cleared yet"
    );
    let Step::SecondFactor {
        enrollment,
        failed,
        client_name,
        ..
    } = &asked.step
    else {
        panic!("{:?}", asked.step)
    };
    assert!(enrollment.is_none(), "an enrolled user is not shown a key");
    assert!(!failed);
    assert_eq!(client_name.as_deref(), Some("Web web"));

    let codes = Codes::default();
    let wrong = code(&w, &id, &BROWSER, "000000", &codes).await.unwrap();
    assert!(
        matches!(wrong.step, Step::SecondFactor { failed: true, .. }),
        "{:?}",
        wrong.step
    );
    assert!(wrong.started.is_none());
    assert_eq!(codes.failed.load(Ordering::SeqCst), 1);

    let right = code(&w, &id, &BROWSER, &code_now(&w, &secret), &codes)
        .await
        .unwrap();
    assert!(
        matches!(right.step, Step::Consent { .. }),
        "{:?}",
        right.step
    );
    assert_eq!(codes.succeeded.load(Ordering::SeqCst), 1);
    assert!(
        session(&w, &right).await.mfa,
        "the session records the second factor"
    );
    assert_eq!(
        w.audit.types(),
        [
            AuditEventType::MfaFailed,
            AuditEventType::MfaSucceeded,
            AuditEventType::LoginSucceeded
        ]
    );
}

#[tokio::test]
async fn a_code_counts_once() {
    let w = walk_requiring_mfa(false).await;
    let secret = enrolled(&w).await;
    let otp = code_now(&w, &secret);
    let codes = Codes::default();
    let first = id_of(&password(&w, None, &Counted::default()).await);
    let done = code(&w, &first, &BROWSER, &otp, &codes).await.unwrap();
    assert!(matches!(done.step, Step::SignedIn), "{:?}", done.step);
    // The same code in another walk, within its step: RFC 6238 5.2 refuses a second use.
    let second = id_of(&password(&w, None, &Counted::default()).await);
    let again = code(&w, &second, &BROWSER, &otp, &codes).await.unwrap();
    assert!(
        matches!(again.step, Step::SecondFactor { failed: true, .. }),
        "{:?}",
        again.step
    );
    assert!(again.started.is_none());
    // The next step's code is a new code.
    w.bench.clock.advance(time::Duration::seconds(30));
    let next = code(&w, &second, &BROWSER, &code_now(&w, &secret), &codes)
        .await
        .unwrap();
    assert!(matches!(next.step, Step::SignedIn), "{:?}", next.step);
}

#[tokio::test]
async fn an_unused_code_older_than_the_last_one_accepted_is_refused() {
    let w = walk_requiring_mfa(false).await;
    let secret = enrolled(&w).await;
    let now = w.bench.clock.now_seconds().unix_timestamp();
    let codes = Codes::default();
    // The next step's code (a phone clock a little ahead) is accepted...
    let first = id_of(&password(&w, None, &Counted::default()).await);
    let ahead = secret.code_at_time(now + 30);
    let done = code(&w, &first, &BROWSER, &ahead, &codes).await.unwrap();
    assert!(matches!(done.step, Step::SignedIn), "{:?}", done.step);
    // ...and then the current step's code, never used but older, is not: someone who saw it
    // over a shoulder comes too late.
    let second = id_of(&password(&w, None, &Counted::default()).await);
    let older = code(&w, &second, &BROWSER, &code_now(&w, &secret), &codes)
        .await
        .unwrap();
    assert!(
        matches!(older.step, Step::SecondFactor { failed: true, .. }),
        "{:?}",
        older.step
    );
}

#[tokio::test]
async fn a_client_requiring_a_second_factor_has_its_user_enrol_one() {
    let w = walk_requiring_mfa(false).await;
    let mut strict = web_registration("strict");
    strict.require_mfa = true;
    w.bench.client(strict).await;
    let id = id_of(
        &w.interactions
            .begin(request("strict", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    let asked = password(&w, Some(&id), &Counted::default()).await;
    // Without a factor the password starts a session, which is not enough for this client.
    assert!(!session(&w, &asked).await.mfa);
    let Step::SecondFactor {
        enrollment: Some(enrollment),
        ..
    } = &asked.step
    else {
        panic!("{:?}", asked.step)
    };
    assert!(
        enrollment.key_uri.starts_with("otpauth://totp/"),
        "{}",
        enrollment.key_uri
    );
    assert!(
        enrollment
            .key_uri
            .contains(&format!("secret={}", enrollment.secret))
    );
    let secret = TotpSecret::from_base32(&enrollment.secret).unwrap();
    let token = asked.started.as_ref().unwrap();
    let signed_in = Browser {
        session_token: Some(token.expose()),
        ..BROWSER
    };
    // The page shown again keeps the same key (the user may have added it already).
    let codes = Codes::default();
    let wrong = code(&w, &id, &signed_in, "123 456", &codes).await.unwrap();
    let Step::SecondFactor {
        enrollment: Some(again),
        failed: true,
        ..
    } = &wrong.step
    else {
        panic!("{:?}", wrong.step)
    };
    assert_eq!(again.secret, enrollment.secret);
    assert!(
        !w.factors.has_totp(&w.bench.user).await.unwrap(),
        "not before a code comes back"
    );

    let enrolled = code(&w, &id, &signed_in, &code_now(&w, &secret), &codes)
        .await
        .unwrap();
    assert!(
        matches!(enrolled.step, Step::Consent { .. }),
        "{:?}",
        enrolled.step
    );
    assert!(session(&w, &enrolled).await.mfa);
    assert!(w.factors.has_totp(&w.bench.user).await.unwrap());
    assert!(w.audit.types().contains(&AuditEventType::MfaEnrolled));
    let stored = w
        .bench
        .store
        .find_totp(&w.bench.user)
        .await
        .unwrap()
        .unwrap();
    let raw = secret.expose_bytes();
    assert!(
        !stored.sealed_secret.windows(raw.len()).any(|w| w == raw),
        "the key is sealed at rest"
    );
}

#[tokio::test]
async fn prompt_none_without_the_required_factor_is_interaction_required() {
    let w = walk_requiring_mfa(true).await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    let asked = password(&w, Some(&id), &Counted::default()).await;
    let token = asked.started.as_ref().unwrap();
    let signed_in = Browser {
        session_token: Some(token.expose()),
        ..BROWSER
    };
    let silent = w
        .interactions
        .begin(request("web", &[("prompt", "none")]), &signed_in)
        .await
        .unwrap();
    let Step::Redirect(url) = &silent.step else {
        panic!("{:?}", silent.step)
    };
    assert_eq!(
        query(url, "error").as_deref(),
        Some(ErrorCode::InteractionRequired.as_str())
    );
    assert_eq!(query(url, "code"), None);
}

#[tokio::test]
async fn too_many_wrong_codes_ask_for_the_password_again() {
    let w = walk_requiring_mfa(false).await;
    let secret = enrolled(&w).await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    password(&w, Some(&id), &Counted::default()).await;
    let codes = Codes::default();
    for _ in 1..MAX_CODE_FAILURES {
        let wrong = code(&w, &id, &BROWSER, "999999", &codes).await.unwrap();
        assert!(matches!(
            wrong.step,
            Step::SecondFactor { failed: true, .. }
        ));
    }
    let last = code(&w, &id, &BROWSER, "999999", &codes).await.unwrap();
    assert!(matches!(last.step, Step::Login { .. }), "{:?}", last.step);
    assert_eq!(
        codes.failed.load(Ordering::SeqCst),
        u32::from(MAX_CODE_FAILURES)
    );
    // The right code now finds no password behind it.
    let late = code(&w, &id, &BROWSER, &code_now(&w, &secret), &codes).await;
    assert!(matches!(late, Err(InteractionError::Expired)), "{late:?}");
}

#[tokio::test]
async fn only_the_browser_that_gave_the_password_may_answer_and_a_lock_holds() {
    let w = walk_requiring_mfa(false).await;
    let secret = enrolled(&w).await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    password(&w, Some(&id), &Counted::default()).await;
    let elsewhere = Browser {
        binding: "another browser",
        ..BROWSER
    };
    let codes = Codes::default();
    let stolen = code(&w, &id, &elsewhere, &code_now(&w, &secret), &codes).await;
    assert!(
        matches!(stolen, Err(InteractionError::Expired)),
        "{stolen:?}"
    );
    let locked = Codes {
        locked: true,
        ..Codes::default()
    };
    let refused = code(&w, &id, &BROWSER, &code_now(&w, &secret), &locked).await;
    assert!(
        matches!(refused, Err(InteractionError::TooManyAttempts(_))),
        "{refused:?}"
    );
    assert_eq!(codes.succeeded.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn keys_move_to_a_new_root_secret_and_open_under_no_other() {
    let w = walk_requiring_mfa(false).await;
    let under = |current: &[u8], previous: &[&[u8]]| {
        SecondFactors::new(
            w.bench.store.clone(),
            w.bench.clock.clone(),
            current,
            previous.iter().copied(),
            "http://127.0.0.1:8080",
        )
        .unwrap()
    };
    let old: &[u8] = b"the old root secret, 32 characters+";
    let new: &[u8] = b"the new root secret, 32 characters+";
    let secret = TotpSecret::generate();
    assert!(
        under(old, &[])
            .enroll(&w.bench.user, &secret, None)
            .await
            .unwrap()
    );
    let mut at = w.bench.clock.now_seconds().unix_timestamp();
    let mut verify = async |factors: &SecondFactors| {
        at += 30; // each check a fresh step: a code counts once
        let code = OneTimeCode::parse(&secret.code_at_time(at)).unwrap();
        w.bench.clock.advance(time::Duration::seconds(30));
        factors.verify(&w.bench.user, &code).await.unwrap()
    };
    assert_eq!(verify(&under(new, &[])).await, Verified::NotEnrolled);
    let changing = under(new, &[old]);
    assert_eq!(verify(&changing).await, Verified::Accepted);
    assert_eq!(changing.reseal().await.unwrap(), 1);
    assert_eq!(changing.reseal().await.unwrap(), 0, "nothing left to move");
    assert_eq!(verify(&under(new, &[])).await, Verified::Accepted);
    assert_eq!(verify(&under(old, &[])).await, Verified::NotEnrolled);
}

#[tokio::test]
async fn a_grant_from_a_login_without_the_factor_is_not_refreshed_once_one_is_required() {
    let w = walk_requiring_mfa(false).await;
    let mut strict = web_registration("strict");
    strict.require_mfa = true;
    let client = w.bench.client(strict).await;
    // A code made before the requirement (or by an older instance): no second factor.
    let (code, _) = w
        .bench
        .code(&client, &["openid", "offline_access"], &[])
        .await;
    let issued = w.bench.redeem(&client, &code, &[]).await.unwrap();
    let refreshed = w
        .bench
        .refresh(&client, &refresh_token(&issued), None, &[])
        .await;
    let (error, description) = refused(refreshed);
    assert_eq!(error, ErrorCode::InvalidGrant);
    assert!(description.contains("second factor"), "{description}");
}

#[tokio::test]
async fn completing_the_factor_keeps_the_session_but_not_its_token() {
    let w = walk_requiring_mfa(true).await;
    let id = id_of(
        &w.interactions
            .begin(request("web", &[]), &BROWSER)
            .await
            .unwrap(),
    );
    let asked = password(&w, Some(&id), &Counted::default()).await;
    let before = session(&w, &asked).await;
    let Step::SecondFactor {
        enrollment: Some(enrollment),
        ..
    } = &asked.step
    else {
        panic!("{:?}", asked.step)
    };
    let secret = TotpSecret::from_base32(&enrollment.secret).unwrap();
    let token = asked.started.as_ref().unwrap();
    let signed_in = Browser {
        session_token: Some(token.expose()),
        ..BROWSER
    };
    w.bench.clock.advance(time::Duration::seconds(30));
    let done = code(
        &w,
        &id,
        &signed_in,
        &code_now(&w, &secret),
        &Codes::default(),
    )
    .await
    .unwrap();
    let after = session(&w, &done).await;
    assert!(after.mfa);
    assert_ne!(after.id_hash, before.id_hash, "a new token");
    assert_eq!(after.sid, before.sid);
    assert_eq!(
        after.auth_time, before.auth_time,
        "the password was given then"
    );
    assert_eq!(after.expires_at, before.expires_at);
    let old = w.bench.store.find_session(&before.id_hash).await.unwrap();
    assert_eq!(old, None, "the token before the factor is gone");
}

/// Locks the account once this many codes failed, as the server's limiter does.
struct Limited {
    failed: AtomicU32,
    lock_after: u32,
}

#[async_trait::async_trait]
impl CodeAttempts for Limited {
    async fn retry_after(&self, _: &str) -> Option<Duration> {
        // A check that takes its time, as a shared store's would.
        tokio::time::sleep(Duration::from_millis(2)).await;
        (self.failed.load(Ordering::SeqCst) >= self.lock_after).then(|| Duration::from_secs(60))
    }
    async fn failed(&self, _: &str) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.failed.fetch_add(1, Ordering::SeqCst);
    }
    async fn succeeded(&self, _: &str) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_codes_are_checked_one_at_a_time_so_the_lock_holds() {
    let w = std::sync::Arc::new(walk_requiring_mfa(false).await);
    enrolled(&w).await;
    let id = id_of(&password(&w, None, &Counted::default()).await);
    let limited = std::sync::Arc::new(Limited {
        failed: AtomicU32::new(0),
        lock_after: 3,
    });
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (w, id, limited) = (w.clone(), id.clone(), limited.clone());
        posts.spawn(async move {
            let input = Input::Code {
                otp: "000000",
                attempts: &*limited,
            };
            w.interactions.advance(Some(&id), &BROWSER, input).await
        });
    }
    let mut locked = 0;
    while let Some(answer) = posts.join_next().await {
        if matches!(answer.unwrap(), Err(InteractionError::TooManyAttempts(_))) {
            locked += 1;
        }
    }
    let checked = w
        .audit
        .types()
        .iter()
        .filter(|t| **t == AuditEventType::MfaFailed)
        .count();
    assert_eq!(checked, 3, "only codes asked before the lock were checked");
    assert_eq!(locked, 17);
}
