//! Refresh tokens: rotation once, the grace of earlier tokens, concurrency, revoked grants.

use ostiary_core::StoreError;

use super::*;

crate::store_tests!(
    refresh_token_rotates_once,
    using_a_successor_ends_the_grace_of_earlier_tokens,
    concurrent_rotations_have_one_winner,
    rotations_of_many_families_at_once_each_win_once,
    a_failing_rotation_fails_alone_among_concurrent_ones,
    rotation_is_refused_once_the_grant_is_revoked,
    a_refresh_family_is_read_whole,
    a_rotation_dropped_midway_writes_all_or_nothing,
);

async fn refresh_token_rotates_once(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    let first = refresh("g1", 0);
    let stored = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    // `issue` wrote token 0 a moment ago, possibly in an earlier second: compare all but times.
    let untimed = |t: &RefreshToken| {
        (
            t.token_hash.clone(),
            t.grant_id.clone(),
            t.access_jti.clone(),
        )
    };
    assert_eq!(untimed(&stored.token), untimed(&first));
    assert_eq!((stored.rotated_at, stored.rotation_answer), (None, None));

    let at = now();
    let second = refresh("g1", 1);
    assert!(
        store
            .rotate_refresh_token(&first.token_hash, at, b"sealed answer", &second)
            .await
            .unwrap()
    );
    let old = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.rotated_at, Some(at));
    assert_eq!(old.rotation_answer.as_deref(), Some(&b"sealed answer"[..]));
    let new = store
        .find_refresh_token(&second.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.token, second);
    assert_eq!(new.rotated_at, None);

    // The old token is spent: a second rotation writes nothing and keeps the first answer.
    let third = refresh("g1", 2);
    assert!(
        !store
            .rotate_refresh_token(&first.token_hash, at, b"other", &third)
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_refresh_token(&third.token_hash).await.unwrap(),
        None
    );
    let old = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.rotation_answer.as_deref(), Some(&b"sealed answer"[..]));

    let unknown = SecretHash::of("no such token");
    assert_eq!(store.find_refresh_token(&unknown).await.unwrap(), None);
    assert!(
        !store
            .rotate_refresh_token(&unknown, at, b"x", &third)
            .await
            .unwrap()
    );
    // A token cannot be rotated into another family.
    issue(&*store, &web, &alice, "sid-1", "g2", false).await;
    let foreign = refresh("g2", 1);
    assert!(
        !store
            .rotate_refresh_token(&second.token_hash, at, b"x", &foreign)
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_refresh_token(&foreign.token_hash).await.unwrap(),
        None
    );
}

async fn using_a_successor_ends_the_grace_of_earlier_tokens(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    issue(&*store, &web, &alice, "sid-2", "g2", false).await;
    let at = now();
    let (t0, t1, t2) = (refresh("g1", 0), refresh("g1", 1), refresh("g1", 2));
    assert!(
        store
            .rotate_refresh_token(&t0.token_hash, at, b"a0", &t1)
            .await
            .unwrap()
    );
    assert!(
        store
            .rotate_refresh_token(&refresh_hash("g2", 0), at, b"b0", &refresh("g2", 1))
            .await
            .unwrap()
    );
    let answer = |hash: SecretHash| {
        let store = store.clone();
        async move {
            store
                .find_refresh_token(&hash)
                .await
                .unwrap()
                .unwrap()
                .rotation_answer
        }
    };
    assert_eq!(
        answer(t0.token_hash.clone()).await.as_deref(),
        Some(&b"a0"[..])
    );
    // Presenting t1 proves the client received it: t0's answer goes, t1 keeps its own.
    assert!(
        store
            .rotate_refresh_token(&t1.token_hash, at, b"a1", &t2)
            .await
            .unwrap()
    );
    assert_eq!(answer(t0.token_hash).await, None);
    assert_eq!(answer(t1.token_hash).await.as_deref(), Some(&b"a1"[..]));
    // Another family is untouched.
    assert_eq!(
        answer(refresh_hash("g2", 0)).await.as_deref(),
        Some(&b"b0"[..])
    );
}

async fn concurrent_rotations_have_one_winner(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    let old = refresh_hash("g1", 0);
    let attempts = (1..=8).map(|n| {
        let store = Arc::clone(&store);
        let old = old.clone();
        async move {
            let won = store
                .rotate_refresh_token(
                    &old,
                    now(),
                    format!("answer {n}").as_bytes(),
                    &refresh("g1", n),
                )
                .await
                .expect("a lost race is Ok(false), never an error");
            (n, won)
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let winners: Vec<u32> = outcomes
        .iter()
        .filter(|(_, w)| *w)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    let spent = store.find_refresh_token(&old).await.unwrap().unwrap();
    assert_eq!(
        spent.rotation_answer,
        Some(format!("answer {winner}").into_bytes())
    );
    for n in 1..=8 {
        let found = store
            .find_refresh_token(&refresh_hash("g1", n))
            .await
            .unwrap();
        assert_eq!(found.is_some(), n == winner, "token {n}");
    }
}

/// More rotations at once than SQLite writes in one transaction, each raced by a replay of the
/// same token: every family rotates exactly once, into the winner's successor with the
/// winner's answer, and the loser's successor is never written.
async fn rotations_of_many_families_at_once_each_win_once(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let families: Vec<String> = (0..40).map(|n| format!("g{n}")).collect();
    for grant_id in &families {
        issue(&*store, &web, &alice, "sid-1", grant_id, false).await;
    }
    let attempts = families.iter().flat_map(|grant_id| {
        [1, 2].map(|n| {
            let store = Arc::clone(&store);
            async move {
                let won = store
                    .rotate_refresh_token(
                        &refresh_hash(grant_id, 0),
                        now(),
                        format!("answer {n}").as_bytes(),
                        &refresh(grant_id, n),
                    )
                    .await
                    .expect("a lost race is Ok(false), never an error");
                (grant_id, n, won)
            }
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    for grant_id in &families {
        let winners: Vec<u32> = outcomes
            .iter()
            .filter(|(g, _, won)| *g == grant_id && *won)
            .map(|(_, n, _)| *n)
            .collect();
        assert_eq!(winners.len(), 1, "{grant_id}: {outcomes:?}");
        let winner = winners[0];
        let spent = store
            .find_refresh_token(&refresh_hash(grant_id, 0))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            spent.rotation_answer,
            Some(format!("answer {winner}").into_bytes()),
            "{grant_id}"
        );
        for n in [1, 2] {
            let found = store
                .find_refresh_token(&refresh_hash(grant_id, n))
                .await
                .unwrap();
            assert_eq!(found.is_some(), n == winner, "{grant_id}, token {n}");
        }
    }
}

/// Among rotations written at once, one whose successor's hash is already taken fails with
/// `Conflict` and writes nothing, and the others are written as if it had not been there.
async fn a_failing_rotation_fails_alone_among_concurrent_ones(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    for grant_id in ["g1", "g2", "g3"] {
        issue(&*store, &web, &alice, "sid-1", grant_id, false).await;
    }
    let mut taken = refresh("g2", 1);
    taken.token_hash = refresh_hash("g3", 0);
    let at = now();
    let old = ["g1", "g2", "g3"].map(|grant_id| refresh_hash(grant_id, 0));
    let (g1, g3) = (refresh("g1", 1), refresh("g3", 1));
    let (first, failing, last) = futures::join!(
        store.rotate_refresh_token(&old[0], at, b"a1", &g1),
        store.rotate_refresh_token(&old[1], at, b"a2", &taken),
        store.rotate_refresh_token(&old[2], at, b"a3", &g3),
    );
    assert!(first.unwrap());
    assert!(
        matches!(failing, Err(StoreError::Conflict("refresh token"))),
        "{failing:?}"
    );
    assert!(last.unwrap());
    let untouched = store
        .find_refresh_token(&refresh_hash("g2", 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        untouched.rotated_at, None,
        "the failed rotation wrote nothing"
    );
    for grant_id in ["g1", "g3"] {
        let new = store.find_refresh_token(&refresh_hash(grant_id, 1)).await;
        assert!(new.unwrap().is_some(), "{grant_id}");
    }
}

async fn rotation_is_refused_once_the_grant_is_revoked(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    assert!(
        store
            .revoke_grant("g1", now(), ClientRequest)
            .await
            .unwrap()
    );
    let next = refresh("g1", 1);
    assert!(
        !store
            .rotate_refresh_token(&refresh_hash("g1", 0), now(), b"x", &next)
            .await
            .unwrap()
    );
    let old = store
        .find_refresh_token(&refresh_hash("g1", 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.rotated_at, None, "nothing written");
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        None
    );
}

/// One read gives the token as `find_refresh_token` does, its grant as `find_grant` does,
/// and whether the user is disabled.
async fn a_refresh_family_is_read_whole(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", true).await;
    let first = refresh("g1", 0);
    let family = |hash: SecretHash| {
        let store = store.clone();
        async move { store.find_refresh_family(&hash).await.unwrap() }
    };
    let found = family(first.token_hash.clone()).await.unwrap();
    let token = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    let grant = store.find_grant("g1").await.unwrap().unwrap();
    // The token's and the grant's access_jti differ: neither may be read for the other.
    assert_ne!(token.token.access_jti, grant.access_jti);
    assert_eq!((&found.token, &found.grant), (&token, &grant));
    assert!(!found.user_disabled);

    // Rotated, its answer comes along; the successor is a family member of its own.
    let second = refresh("g1", 1);
    assert!(
        store
            .rotate_refresh_token(&first.token_hash, now(), b"sealed answer", &second)
            .await
            .unwrap()
    );
    let found = family(first.token_hash.clone()).await.unwrap();
    assert_eq!(
        found.token.rotation_answer.as_deref(),
        Some(&b"sealed answer"[..])
    );
    assert_eq!(
        family(second.token_hash.clone()).await.unwrap().token.token,
        second
    );

    assert!(store.set_user_disabled(&alice, true).await.unwrap());
    assert!(
        family(second.token_hash.clone())
            .await
            .unwrap()
            .user_disabled
    );
    assert_eq!(family(SecretHash::of("no such token")).await, None);
}

/// A request whose client goes away has its future dropped at whatever await it reached: a
/// rotation dropped at each step of its transaction must leave both rows written or neither,
/// and the store must serve the next writer as before.
async fn a_rotation_dropped_midway_writes_all_or_nothing(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let steps = 0..10;
    for polls in steps.clone() {
        let grant_id = format!("g{polls}");
        issue(&*store, &web, &alice, "sid-1", &grant_id, false).await;
        let (old, new) = (refresh_hash(&grant_id, 0), refresh(&grant_id, 1));
        let rotation = store.rotate_refresh_token(&old, now(), b"answer", &new);
        let mut rotation = std::pin::pin!(rotation);
        for poll in 0..polls {
            if poll > 0 {
                // Time for the statement in flight to reach the database and come back.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            // Dropped right after this poll when it is the last: while the database is
            // still running what the poll sent.
            if futures::poll!(rotation.as_mut()).is_ready() {
                break;
            }
        }
    }
    // What a dropped future sent may still be landing: a rotation is atomic, so every grant
    // must settle to "rotated and succeeded" or "untouched".
    for polls in steps {
        let grant_id = format!("g{polls}");
        let mut settled = false;
        for _ in 0..50 {
            let old = store
                .find_refresh_token(&refresh_hash(&grant_id, 0))
                .await
                .unwrap()
                .unwrap();
            let new = store
                .find_refresh_token(&refresh_hash(&grant_id, 1))
                .await
                .unwrap();
            if old.rotated_at.is_some() == new.is_some() {
                settled = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            settled,
            "dropped after {polls} polls: half a rotation stayed written"
        );
        let current = match store
            .find_refresh_token(&refresh_hash(&grant_id, 1))
            .await
            .unwrap()
        {
            Some(_) => 1,
            None => 0,
        };
        assert!(
            store
                .rotate_refresh_token(
                    &refresh_hash(&grant_id, current),
                    now(),
                    b"answer",
                    &refresh(&grant_id, 2),
                )
                .await
                .unwrap(),
            "after a rotation dropped after {polls} polls, the next one must succeed"
        );
    }
}
