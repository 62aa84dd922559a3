//! Authorization codes: round trips and one redemption, also under concurrency.

use ostiary_core::StoreError;

use super::*;

crate::store_tests!(
    code_round_trips_and_redeems_once,
    a_code_is_stored_only_while_its_session_is,
    concurrent_redemptions_have_one_winner,
    a_presented_code_comes_with_its_users_standing,
    codes_of_many_requests_at_once_are_each_stored_and_redeemed_once,
    a_failing_code_or_redemption_fails_alone_among_concurrent_ones,
    a_logout_racing_redemptions_leaves_no_live_grant_of_its_session,
    a_logout_and_a_batch_of_redemptions_take_the_codes_in_one_order,
    a_code_consumed_elsewhere_while_a_batch_waits_for_it_is_not_redeemed_again,
    a_client_deleted_while_a_batch_redeems_its_codes_waits_for_the_batch,
    a_code_waits_for_a_logout_in_progress_and_is_not_stored,
);

async fn code_round_trips_and_redeems_once(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let c = code(&web, &alice, "sid-1", "g1");
    store_code(&*store, &c).await;
    assert_eq!(
        store.find_code(&c.code_hash).await.unwrap(),
        Some(c.clone())
    );
    assert!(
        store.insert_code(&c).await.is_err(),
        "a code is stored once"
    );
    let without_nonce = AuthorizationCode {
        nonce: None,
        resources: vec![],
        ..code(&web, &alice, "sid-1", "g2")
    };
    store_code(&*store, &without_nonce).await;
    assert_eq!(
        store.find_code(&without_nonce.code_hash).await.unwrap(),
        Some(without_nonce)
    );

    let grant = grant_of(&c, false);
    let at = now();
    assert!(
        store
            .redeem_code(&c.code_hash, at, &grant, None)
            .await
            .unwrap()
    );
    let consumed = store.find_code(&c.code_hash).await.unwrap().unwrap();
    assert_eq!(consumed.consumed_at, Some(at));
    assert_eq!(store.find_grant("g1").await.unwrap(), Some(grant.clone()));

    // A replay changes nothing: no second grant, no refresh token.
    let replay = Grant {
        access_jti: "at-replay".into(),
        ..grant.clone()
    };
    let token = refresh("g1", 1);
    assert!(
        !store
            .redeem_code(
                &c.code_hash,
                at + Duration::seconds(5),
                &replay,
                Some(&token)
            )
            .await
            .unwrap()
    );
    assert_eq!(store.find_grant("g1").await.unwrap(), Some(grant));
    assert_eq!(
        store.find_refresh_token(&token.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find_code(&c.code_hash)
            .await
            .unwrap()
            .unwrap()
            .consumed_at,
        Some(at)
    );

    let unknown = SecretHash::of("no such code");
    assert_eq!(store.find_code(&unknown).await.unwrap(), None);
    let other = grant_of(&code(&web, &alice, "sid-1", "g3"), false);
    assert!(!store.redeem_code(&unknown, at, &other, None).await.unwrap());
    assert_eq!(store.find_grant("g3").await.unwrap(), None);
    assert_eq!(store.find_grant("nope").await.unwrap(), None);
}

/// A code is stored only while its login session is: after a logout that committed between
/// the session's read and the code's insert, nothing is stored and the caller is told so.
async fn a_code_is_stored_only_while_its_session_is(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let orphan = code(&web, &alice, "sid-gone", "g0");
    assert!(!store.insert_code(&orphan).await.unwrap());
    assert_eq!(store.find_code(&orphan.code_hash).await.unwrap(), None);

    let signed_in = session(&alice, "sid-1", now());
    store.insert_session(&signed_in).await.unwrap();
    let before = code(&web, &alice, "sid-1", "g1");
    assert!(store.insert_code(&before).await.unwrap());
    assert!(
        store
            .delete_session(&signed_in.id_hash)
            .await
            .unwrap()
            .is_some()
    );
    let after = code(&web, &alice, "sid-1", "g2");
    assert!(!store.insert_code(&after).await.unwrap());
    assert_eq!(store.find_code(&after.code_hash).await.unwrap(), None);
    assert!(store.find_code(&before.code_hash).await.unwrap().is_some());
}

async fn concurrent_redemptions_have_one_winner(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let c = code(&web, &alice, "sid-1", "g1");
    store_code(&*store, &c).await;
    let grant = grant_of(&c, false);
    let attempts = (0..8).map(|n| {
        let store = Arc::clone(&store);
        let (hash, grant, token) = (c.code_hash.clone(), grant.clone(), refresh("g1", n));
        async move {
            store
                .redeem_code(&hash, now(), &grant, Some(&token))
                .await
                .expect("a lost race is Ok(false), never an error")
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    assert_eq!(
        outcomes.iter().filter(|won| **won).count(),
        1,
        "{outcomes:?}"
    );
    // Only the winner's refresh token was written.
    let mut written = 0;
    for n in 0..8 {
        let hash = refresh_hash("g1", n);
        if store.find_refresh_token(&hash).await.unwrap().is_some() {
            written += 1;
        }
    }
    assert_eq!(written, 1);
}

/// One read gives the code as `find_code` does and whether its user is disabled.
async fn a_presented_code_comes_with_its_users_standing(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let c = code(&web, &alice, "sid-1", "g1");
    store_code(&*store, &c).await;
    let presented = store.find_presented_code(&c.code_hash).await.unwrap();
    assert_eq!(
        presented,
        Some(PresentedCode {
            code: c.clone(),
            user_disabled: false
        })
    );
    assert!(store.set_user_disabled(&alice, true).await.unwrap());
    let presented = store.find_presented_code(&c.code_hash).await.unwrap();
    assert!(presented.is_some_and(|p| p.user_disabled && p.code == c));
    let unknown = SecretHash::of("no such code");
    assert_eq!(store.find_presented_code(&unknown).await.unwrap(), None);
}

/// Codes issued at once are each stored; redeemed at once, each twice (the second a replay
/// racing the first), each is consumed once, with the winner's grant and refresh token only.
async fn codes_of_many_requests_at_once_are_each_stored_and_redeemed_once(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let codes: Vec<AuthorizationCode> = (0..40)
        .map(|n| code(&web, &alice, "sid-1", &format!("g{n}")))
        .collect();
    sign_in(&*store, &alice, "sid-1").await;
    let inserts = codes.iter().map(|c| store.insert_code(c));
    for inserted in futures::future::join_all(inserts).await {
        assert!(inserted.unwrap());
    }
    for c in &codes {
        assert_eq!(
            store.find_code(&c.code_hash).await.unwrap().as_ref(),
            Some(c)
        );
    }
    let attempts = codes.iter().flat_map(|c| {
        [1, 2].map(|n| {
            let store = Arc::clone(&store);
            let grant = Grant {
                access_jti: format!("at-{}-{n}", c.grant_id),
                ..grant_of(c, true)
            };
            let token = refresh(&c.grant_id, n);
            async move {
                let won = store
                    .redeem_code(&c.code_hash, now(), &grant, Some(&token))
                    .await
                    .expect("a lost race is Ok(false), never an error");
                (c, n, won)
            }
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    for c in &codes {
        let winners: Vec<u32> = outcomes
            .iter()
            .filter(|(code, _, won)| code.grant_id == c.grant_id && *won)
            .map(|(_, n, _)| *n)
            .collect();
        assert_eq!(winners.len(), 1, "{}: {outcomes:?}", c.grant_id);
        let winner = winners[0];
        let consumed = store.find_code(&c.code_hash).await.unwrap().unwrap();
        assert!(consumed.consumed_at.is_some(), "{}", c.grant_id);
        let grant = store.find_grant(&c.grant_id).await.unwrap().unwrap();
        assert_eq!(grant.access_jti, format!("at-{}-{winner}", c.grant_id));
        for n in [1, 2] {
            let found = store
                .find_refresh_token(&refresh_hash(&c.grant_id, n))
                .await
                .unwrap();
            assert_eq!(found.is_some(), n == winner, "{}, token {n}", c.grant_id);
        }
    }
}

/// Among codes stored at once, one whose hash is taken fails with `Conflict`, one for an
/// unknown client fails, and the others are stored; among redemptions written at once, one whose grant id is taken fails with
/// `Conflict`, writes nothing (its code stays unconsumed), and the others are written.
async fn a_failing_code_or_redemption_fails_alone_among_concurrent_ones(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let taken = code(&web, &alice, "sid-1", "g0");
    store_code(&*store, &taken).await;
    let fresh = ["g1", "g2", "g3", "g4"].map(|g| code(&web, &alice, "sid-1", g));
    let twin = AuthorizationCode {
        grant_id: "g-twin".into(),
        ..taken.clone()
    };
    // A code for a client that does not exist (deleted meanwhile) breaks a foreign key, first
    // in the batch.
    let orphan = code(&ClientId::parse("gone").unwrap(), &alice, "sid-1", "g5");
    sign_in(&*store, &alice, "sid-1").await;
    let inserted = futures::future::join_all(
        [&fresh[0], &orphan, &fresh[1], &twin, &fresh[2], &fresh[3]].map(|c| store.insert_code(c)),
    )
    .await;
    assert!(inserted[1].is_err(), "{inserted:?}");
    assert!(
        matches!(inserted[3], Err(StoreError::Conflict(_))),
        "{inserted:?}"
    );
    assert!(
        inserted
            .iter()
            .enumerate()
            .all(|(i, r)| i == 1 || i == 3 || matches!(r, Ok(true))),
        "{inserted:?}"
    );
    assert_eq!(store.find_code(&orphan.code_hash).await.unwrap(), None);
    assert_eq!(
        store.find_code(&taken.code_hash).await.unwrap(),
        Some(taken.clone())
    );

    // Grant g9 exists already, so fresh[1] redeemed under that grant id cannot insert it.
    issue(&*store, &web, &alice, "sid-1", "g9", false).await;
    let clash = Grant {
        grant_id: "g9".into(),
        ..grant_of(&fresh[1], false)
    };
    let grants = [
        grant_of(&fresh[0], false),
        clash,
        grant_of(&fresh[2], false),
    ];
    let redeemed = futures::future::join_all(
        fresh[..3]
            .iter()
            .zip(&grants)
            .map(|(c, g)| store.redeem_code(&c.code_hash, now(), g, None)),
    )
    .await;
    assert!(
        matches!(redeemed[1], Err(StoreError::Conflict(_))),
        "{redeemed:?}"
    );
    assert!(matches!(redeemed[0], Ok(true)), "{redeemed:?}");
    assert!(matches!(redeemed[2], Ok(true)), "{redeemed:?}");
    let unspent = store.find_code(&fresh[1].code_hash).await.unwrap().unwrap();
    assert_eq!(unspent.consumed_at, None);
    for (c, g) in [(&fresh[0], "g1"), (&fresh[2], "g3")] {
        let consumed = store.find_code(&c.code_hash).await.unwrap().unwrap();
        assert!(consumed.consumed_at.is_some());
        assert!(store.find_grant(g).await.unwrap().is_some());
    }
}

/// A logout while the session's codes are being redeemed: afterwards no code of the session
/// is left unredeemed and none of its grants is live, whichever came first, and neither side
/// fails (on PostgreSQL both lock the codes in one order). Every other round the redemptions
/// start 2 ms ahead, so that some win before the logout.
async fn a_logout_racing_redemptions_leaves_no_live_grant_of_its_session(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let mut won_before_logout = 0;
    for round in 0..6 {
        let sid = format!("sid-{round}");
        let codes: Vec<AuthorizationCode> = (0..12)
            .map(|n| code(&web, &alice, &sid, &format!("g{round}-{n}")))
            .collect();
        for c in &codes {
            store_code(&*store, c).await;
        }
        let redemptions = spawn_redemptions(&store, &codes);
        if round % 2 == 1 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        store.revoke_session_grants(&sid, now()).await.unwrap();
        for (c, won) in codes.iter().zip(redemptions.await.unwrap()) {
            let won = won.unwrap();
            let left = store.find_code(&c.code_hash).await.unwrap();
            let grant = store.find_grant(&c.grant_id).await.unwrap();
            if won {
                won_before_logout += 1;
                assert!(left.is_some_and(|c| c.consumed_at.is_some()));
                assert!(grant.unwrap().revoked_at.is_some(), "{}", c.grant_id);
            } else {
                assert_eq!(left, None, "{}", c.grant_id);
                assert_eq!(grant, None, "{}", c.grant_id);
            }
        }
    }
    assert!(won_before_logout > 0, "no redemption came before a logout");
}

/// On PostgreSQL, a logout and a batch of redemptions that want the same codes at once both
/// succeed, the batch first and the logout then revoking its grants: each locks the codes in
/// the order of their hashes. In another order each could hold a code the other waits for,
/// and PostgreSQL would abort one after a second (the batch, here: its redemptions then find
/// the codes gone). A third
/// connection holds the middle code until both wait, so that they meet every time; the codes
/// are inserted from the highest hash down, the order of a plain scan.
async fn a_logout_and_a_batch_of_redemptions_take_the_codes_in_one_order(db: Database) {
    let Some((mut holder, mut observer)) = postgres_pair(&db).await else {
        return;
    };
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let mut codes: Vec<AuthorizationCode> = (0..8)
        .map(|n| code(&web, &alice, "sid-1", &format!("g{n}")))
        .collect();
    codes.sort_by(|a, b| b.code_hash.as_bytes().cmp(a.code_hash.as_bytes()));
    for c in &codes {
        store_code(&*store, c).await;
    }
    hold_code(&mut holder, &codes[codes.len() / 2]).await;
    let redemptions = spawn_redemptions(&store, &codes);
    wait_for_lock_waiters(&mut observer, 1).await;
    let logout = tokio::spawn({
        let store = Arc::clone(&store);
        async move { store.revoke_session_grants("sid-1", now()).await }
    });
    wait_for_lock_waiters(&mut observer, 2).await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    let revoked = logout.await.unwrap().expect("the logout succeeds");
    assert_eq!(revoked, 8);
    for (c, won) in codes.iter().zip(redemptions.await.unwrap()) {
        assert!(won.unwrap(), "{}", c.grant_id);
        let grant = store.find_grant(&c.grant_id).await.unwrap().unwrap();
        assert!(grant.revoked_at.is_some(), "{}", c.grant_id);
    }
}

/// On PostgreSQL, a code another transaction (another instance) consumes while a batch waits
/// for its lock is not redeemed by the batch, whose other redemptions win: single use holds
/// across transactions, not only within a batch's statement.
async fn a_code_consumed_elsewhere_while_a_batch_waits_for_it_is_not_redeemed_again(db: Database) {
    let Some((mut elsewhere, mut observer)) = postgres_pair(&db).await else {
        return;
    };
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let codes: Vec<AuthorizationCode> = (0..4)
        .map(|n| code(&web, &alice, "sid-1", &format!("g{n}")))
        .collect();
    for c in &codes {
        store_code(&*store, c).await;
    }
    let taken = codes[2].code_hash.as_bytes().to_vec();
    sqlx::query("BEGIN").execute(&mut elsewhere).await.unwrap();
    sqlx::query("UPDATE authorization_codes SET consumed_at = 1 WHERE code_hash = $1")
        .bind(taken)
        .execute(&mut elsewhere)
        .await
        .unwrap();
    let redemptions = spawn_redemptions(&store, &codes);
    wait_for_lock_waiters(&mut observer, 1).await;
    sqlx::query("COMMIT").execute(&mut elsewhere).await.unwrap();
    let won: Vec<bool> = redemptions
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(won, [true, true, false, true]);
    assert_eq!(store.find_grant("g2").await.unwrap(), None);
    let consumed = store.find_code(&codes[2].code_hash).await.unwrap().unwrap();
    assert_eq!(consumed.consumed_at.map(|t| t.unix_timestamp()), Some(1));
}

/// On PostgreSQL, deleting a client while a batch redeems its codes: the deletion voids the
/// codes (waiting for the batch, which holds them) before it locks the client's row, so the
/// batch's grants can still check their foreign key on that row; the deletion then takes them
/// with the client. Locking the row first, it would wait for a code the batch holds while the
/// batch waits for the row. A third connection holds the second code until both wait.
async fn a_client_deleted_while_a_batch_redeems_its_codes_waits_for_the_batch(db: Database) {
    let Some((mut holder, mut observer)) = postgres_pair(&db).await else {
        return;
    };
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let mut codes: Vec<AuthorizationCode> = (0..2)
        .map(|n| code(&web, &alice, "sid-1", &format!("g{n}")))
        .collect();
    codes.sort_by(|a, b| a.code_hash.as_bytes().cmp(b.code_hash.as_bytes()));
    for c in &codes {
        store_code(&*store, c).await;
    }
    hold_code(&mut holder, &codes[1]).await;
    let redemptions = spawn_redemptions(&store, &codes);
    wait_for_lock_waiters(&mut observer, 1).await;
    let deletion = tokio::spawn({
        let (store, web) = (Arc::clone(&store), web.clone());
        async move { store.delete_client(&web).await }
    });
    wait_for_lock_waiters(&mut observer, 2).await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    assert!(deletion.await.unwrap().expect("the deletion succeeds"));
    for (c, won) in codes.iter().zip(redemptions.await.unwrap()) {
        assert!(won.unwrap(), "{}", c.grant_id);
        assert_eq!(store.find_grant(&c.grant_id).await.unwrap(), None);
    }
}

/// On PostgreSQL, codes stored at once while a logout of one of their sessions is in
/// progress: that session's code waits for the logout and is not stored; the other is.
async fn a_code_waits_for_a_logout_in_progress_and_is_not_stored(db: Database) {
    let Some((mut logout, mut observer)) = postgres_pair(&db).await else {
        return;
    };
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    sign_in(&*store, &alice, "sid-1").await;
    sign_in(&*store, &alice, "sid-2").await;
    let codes = [
        code(&web, &alice, "sid-1", "g1"),
        code(&web, &alice, "sid-2", "g2"),
    ];
    begin_logout(&mut logout, "sid-1").await;
    let inserts = tokio::spawn({
        let (store, codes) = (Arc::clone(&store), codes.clone());
        async move { futures::future::join_all(codes.iter().map(|c| store.insert_code(c))).await }
    });
    wait_for_lock_waiters(&mut observer, 1).await;
    sqlx::query("COMMIT").execute(&mut logout).await.unwrap();
    let stored: Vec<bool> = inserts
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored, [false, true]);
    assert_eq!(store.find_code(&codes[0].code_hash).await.unwrap(), None);
    assert!(
        store
            .find_code(&codes[1].code_hash)
            .await
            .unwrap()
            .is_some()
    );
}

/// Redeems each of `codes` at once (each for its own grant, no refresh token), on a task of
/// its own; the outcomes in the order of `codes`.
fn spawn_redemptions(
    store: &Arc<dyn Store>,
    codes: &[AuthorizationCode],
) -> tokio::task::JoinHandle<Vec<Result<bool, StoreError>>> {
    let (store, codes) = (Arc::clone(store), codes.to_vec());
    tokio::spawn(async move {
        let each = codes.iter().map(|c| {
            let grant = grant_of(c, false);
            let store = Arc::clone(&store);
            async move { store.redeem_code(&c.code_hash, now(), &grant, None).await }
        });
        futures::future::join_all(each).await
    })
}

/// Begins a transaction on `holder` that row-locks `code` until it ends.
async fn hold_code(holder: &mut sqlx::PgConnection, code: &AuthorizationCode) {
    sqlx::query("BEGIN").execute(&mut *holder).await.unwrap();
    sqlx::query("SELECT 1 FROM authorization_codes WHERE code_hash = $1 FOR UPDATE")
        .bind(code.code_hash.as_bytes().to_vec())
        .execute(&mut *holder)
        .await
        .unwrap();
}
