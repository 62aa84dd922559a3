//! What an upgrade must keep, checked on both backends from the same rows: a database as an
//! earlier version left it, migrated, then read through the store.

#![allow(clippy::unwrap_used)] // tests fail loudly

use ostiary_core::GrantStore;
use ostiary_core::grant::RefreshToken;
use ostiary_core::secret::SecretHash;
use time::{Duration, OffsetDateTime};

/// The version whose schema [`EARLIER_GRANTS`] and [`insert_earlier_refresh_tokens`] write:
/// every migration up to this one, before rotations named their successors (21) and kept
/// their answers on them (22).
pub(crate) const BEFORE_SUCCESSORS: i64 = 20261201000020;

/// One user, one client and the grants `g1` and `g2` (SQL that both backends take).
pub(crate) const EARLIER_GRANTS: &str = "\
    INSERT INTO users (user_id, username, password_hash, created_at) \
    VALUES ('6f1c2b1e-0000-4000-8000-000000000001', 'alice', 'x', 0); \
    INSERT INTO clients (client_id, name, token_endpoint_auth_method, grant_types, \
    redirect_uris, scopes, audiences, introspect_audiences, post_logout_redirect_uris, \
    skip_consent, created_at) VALUES ('web', 'Web', 'none', '[]', '[]', '[]', '[]', \
    '[]', '[]', FALSE, 0); \
    INSERT INTO grants (grant_id, client_id, user_id, sid, offline, scopes, audiences, \
    auth_time, created_at, access_jti, access_expires_at) VALUES \
    ('g1', 'web', '6f1c2b1e-0000-4000-8000-000000000001', 's', TRUE, '[]', '[]', 0, 0, 'a', 4000000000), \
    ('g2', 'web', '6f1c2b1e-0000-4000-8000-000000000001', 's', TRUE, '[]', '[]', 0, 0, 'b', 4000000000);";

/// On the connection `$conn` (at [`BEFORE_SUCCESSORS`], after [`EARLIER_GRANTS`]), the
/// refresh tokens of two families as the earlier version left them: in `g1`, `t0` rotated
/// into `t1` with its answer `a0` on its own row; in `g2`, `u0` rotated with the answer `b0`
/// and two unrotated tokens, so no successor can be named.
macro_rules! insert_earlier_refresh_tokens {
    ($conn:expr) => {{
        let tokens: [(&str, &str, Option<i64>, Option<&[u8]>); 5] = [
            ("t0", "g1", Some(1), Some(b"a0")),
            ("t1", "g1", None, None),
            ("u0", "g2", Some(1), Some(b"b0")),
            ("u1", "g2", None, None),
            ("u2", "g2", None, None),
        ];
        for (token, grant, rotated, answer) in tokens {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, grant_id, issued_at, expires_at, \
                 access_jti, access_expires_at, rotated_at, rotation_answer) \
                 VALUES ($1, $2, 0, 4000000000, $3, 4000000000, $4, $5)",
            )
            .bind(
                ostiary_core::secret::SecretHash::of(token)
                    .as_bytes()
                    .to_vec(),
            )
            .bind(grant)
            .bind(format!("at-{token}"))
            .bind(rotated)
            .bind(answer.map(<[u8]>::to_vec))
            .execute($conn)
            .await
            .unwrap();
        }
    }};
}
pub(crate) use insert_earlier_refresh_tokens;

/// After the upgrade, through `store`: `t0`'s answer is still given while its successor `t1`
/// is unused, and no longer once `t1` is rotated, whose own answer is given instead; `u0`,
/// whose successor could not be named, has none.
pub(crate) async fn assert_earlier_answers_keep_their_grace(store: &impl GrantStore) {
    let answer = |token: &'static str| async move {
        let found = store.find_refresh_token(&SecretHash::of(token)).await;
        found.unwrap().unwrap().rotation_answer
    };
    assert_eq!(answer("t0").await.as_deref(), Some(&b"a0"[..]));
    assert_eq!(answer("u0").await, None, "no single successor: no answer");
    let later = OffsetDateTime::UNIX_EPOCH + Duration::days(40_000);
    let t2 = RefreshToken {
        token_hash: SecretHash::of("t2"),
        grant_id: "g1".into(),
        issued_at: OffsetDateTime::UNIX_EPOCH,
        expires_at: later,
        access_jti: "at-t2".into(),
        access_expires_at: later,
    };
    let at = OffsetDateTime::UNIX_EPOCH + Duration::seconds(2);
    let t1 = SecretHash::of("t1");
    assert!(
        store
            .rotate_refresh_token(&t1, at, b"a1", &t2)
            .await
            .unwrap()
    );
    assert_eq!(answer("t0").await, None, "its successor was used");
    assert_eq!(answer("t1").await.as_deref(), Some(&b"a1"[..]));
}
