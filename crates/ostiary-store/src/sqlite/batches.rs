//! SQLite's batches of writes (`crate::batches`): one multi-statement transaction, run in one
//! round trip to the writer's thread. Each item's statements select its index when it takes
//! effect; a statement that depends on an earlier one of the same item is gated by
//! `changes()`, which counts the rows the statement just before changed, on this connection.
//! SQLite's write lock serialises a batch with every revocation.

use std::sync::{Arc, OnceLock};

use ostiary_core::StoreError;
use sqlx::Row;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments};

use super::checkpoints::Checkpoints;
use super::connections::Connections;
use crate::batches::{Batch, MAX_BATCH, Redemption, Rotation, selected};
use crate::rows::CodeRow;

type Statements<'q> = Query<'q, Sqlite, SqliteArguments>;

/// The writer and the checkpoints that follow its writes.
#[derive(Debug, Clone)]
pub(crate) struct SqliteBatches {
    pub writer: Arc<Connections>,
    pub checkpoints: Arc<Checkpoints>,
}

impl SqliteBatches {
    /// Runs `statements` (a batch's, from `BEGIN IMMEDIATE` to `COMMIT`) on the writer, and
    /// tells which of its `size` items took effect. A unique violation is a `Conflict` over
    /// `record`.
    async fn run(
        &self,
        size: usize,
        record: &'static str,
        statements: Statements<'_>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut lent = self.writer.lend().await.map_err(crate::error::backend)?;
        self.checkpoints.after_write();
        let rows = lent
            .run_own_transaction(statements)
            .await
            .map_err(crate::error::write_error(record))?;
        drop(lent);
        let indexes: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(crate::error::backend)?;
        selected(size, indexes)
    }
}

impl Batch<Rotation> for SqliteBatches {
    type Output = bool;

    async fn run(&self, rotations: &[Rotation]) -> Result<Vec<bool>, StoreError> {
        static SQL: OnceLock<Vec<String>> = OnceLock::new();
        let mut statements = sqlx::query(batch_sql(&SQL, rotation_sql, rotations.len())?);
        for r in rotations {
            statements = statements
                .bind(r.at)
                .bind(r.answer.clone())
                .bind(r.new.token_hash.clone())
                .bind(r.old.clone())
                .bind(r.new.grant_id.clone())
                .bind(r.new.issued_at)
                .bind(r.new.expires_at)
                .bind(r.new.access_jti.clone())
                .bind(r.new.access_expires_at);
        }
        self.run(rotations.len(), "refresh token", statements).await
    }
}

impl Batch<CodeRow> for SqliteBatches {
    type Output = bool;

    async fn run(&self, codes: &[CodeRow]) -> Result<Vec<bool>, StoreError> {
        static SQL: OnceLock<Vec<String>> = OnceLock::new();
        let mut statements = sqlx::query(batch_sql(&SQL, code_sql, codes.len())?);
        for c in codes {
            statements = statements
                .bind(c.code_hash.clone())
                .bind(c.grant_id.clone())
                .bind(c.client_id.clone())
                .bind(c.user_id.clone())
                .bind(c.sid.clone())
                .bind(c.redirect_uri.clone())
                .bind(c.code_challenge.clone())
                .bind(c.nonce.clone())
                .bind(c.scopes.clone())
                .bind(c.resources.clone())
                .bind(c.auth_time)
                .bind(c.expires_at)
                .bind(c.consumed_at)
                .bind(c.dpop_jkt.clone())
                .bind(c.mfa);
        }
        self.run(codes.len(), "authorization code", statements)
            .await
    }
}

impl Batch<Redemption> for SqliteBatches {
    type Output = bool;

    async fn run(&self, redemptions: &[Redemption]) -> Result<Vec<bool>, StoreError> {
        static SQL: OnceLock<Vec<String>> = OnceLock::new();
        let mut statements = sqlx::query(batch_sql(&SQL, redemption_sql, redemptions.len())?);
        for r in redemptions {
            let (g, refresh) = (&r.grant, r.refresh.as_ref());
            statements = statements
                .bind(r.at)
                .bind(r.code_hash.clone())
                .bind(g.grant_id.clone())
                .bind(g.client_id.clone())
                .bind(g.user_id.clone())
                .bind(g.sid.clone())
                .bind(g.offline)
                .bind(g.scopes.clone())
                .bind(g.audiences.clone())
                .bind(g.auth_time)
                .bind(g.created_at)
                .bind(g.access_jti.clone())
                .bind(g.access_expires_at)
                .bind(g.revoked_at)
                .bind(g.dpop_jkt.clone())
                .bind(g.mfa)
                .bind(refresh.map(|t| t.token_hash.clone()))
                .bind(refresh.map(|t| t.issued_at))
                .bind(refresh.map(|t| t.expires_at))
                .bind(refresh.map(|t| t.access_jti.clone()))
                .bind(refresh.map(|t| t.access_expires_at));
        }
        self.run(redemptions.len(), "grant", statements).await
    }
}

/// The transaction of a batch of `size` items whose statements `item(index)` gives, made once
/// per size into `cache`. Errors unless `size` is 1 to [`MAX_BATCH`].
fn batch_sql(
    cache: &'static OnceLock<Vec<String>>,
    item: fn(usize) -> String,
    size: usize,
) -> Result<&'static str, StoreError> {
    let batches = cache.get_or_init(|| {
        (1..=MAX_BATCH)
            .map(|size| {
                let items: String = (0..size).map(item).collect();
                format!("BEGIN IMMEDIATE; {items}COMMIT")
            })
            .collect()
    });
    size.checked_sub(1)
        .and_then(|i| batches.get(i))
        .map(String::as_str)
        .ok_or_else(|| StoreError::Backend(format!("{size} writes in one batch").into()))
}

/// `$n` of the `index`th item (0-based) of a batch whose items have `count` parameters each.
fn parameter(index: usize, count: usize) -> impl Fn(usize) -> String {
    move |n| format!("${}", count * index + n)
}

/// The `index`th rotation of a batch, whose parameters are: rotated at, sealed answer,
/// successor hash, old hash, grant, then the successor's issue, expiry, access token `jti` and
/// its expiry. The old token is marked rotated with its successor, provided it is unrotated,
/// belongs to the grant and that grant is live; the successor is inserted, with the answer a
/// retry inside the grace period gets again (RFC 9700 4.14.2), only if that UPDATE changed
/// the row. `find_refresh_family` gives the answer only while the successor is unused.
fn rotation_sql(index: usize) -> String {
    let p = parameter(index, 9);
    format!(
        "UPDATE refresh_tokens SET rotated_at = {at}, successor_hash = {new} \
         WHERE token_hash = {old} AND rotated_at IS NULL AND grant_id = {grant} \
         AND EXISTS (SELECT 1 FROM grants WHERE grant_id = {grant} AND revoked_at IS NULL) \
         RETURNING {index}; \
         INSERT INTO refresh_tokens (token_hash, grant_id, issued_at, expires_at, access_jti, \
         access_expires_at, issuing_answer) SELECT {new}, {grant}, {issued}, {expires}, {jti}, \
         {access_expires}, {answer} WHERE changes() = 1; ",
        at = p(1),
        answer = p(2),
        new = p(3),
        old = p(4),
        grant = p(5),
        issued = p(6),
        expires = p(7),
        jti = p(8),
        access_expires = p(9),
    )
}

/// The `index`th code of a batch, whose parameters are the columns of `authorization_codes`
/// in the order of [`CodeRow`]: inserted while its session (the fifth, `sid`) is stored (a
/// taken hash fails the batch).
fn code_sql(index: usize) -> String {
    let p = parameter(index, 15);
    let values: Vec<String> = (1..=15).map(&p).collect();
    format!(
        "INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, sid, \
         redirect_uri, code_challenge, nonce, scopes, resources, auth_time, expires_at, \
         consumed_at, dpop_jkt, mfa) SELECT {values} \
         WHERE EXISTS (SELECT 1 FROM sessions WHERE sid = {sid}) RETURNING {index}; ",
        values = values.join(", "),
        sid = p(5),
    )
}

/// The `index`th redemption of a batch, whose parameters are: consumed at, the code's hash,
/// the grant's columns in the order of `GrantRow` (14), then its first refresh token's hash,
/// issue, expiry, access token `jti` and expiry (all NULL when the grant has none). The code
/// is consumed provided it is unconsumed; the grant is inserted only if that UPDATE changed
/// the row, and the refresh token only if the grant was. Two redemptions of one code in a
/// batch: the first consumes it, the second changes nothing.
fn redemption_sql(index: usize) -> String {
    let p = parameter(index, 21);
    let grant: Vec<String> = (3..=16).map(&p).collect();
    format!(
        "UPDATE authorization_codes SET consumed_at = {at} \
         WHERE code_hash = {code} AND consumed_at IS NULL RETURNING {index}; \
         INSERT INTO grants (grant_id, client_id, user_id, sid, offline, scopes, audiences, \
         auth_time, created_at, access_jti, access_expires_at, revoked_at, dpop_jkt, mfa) \
         SELECT {grant} WHERE changes() = 1; \
         INSERT INTO refresh_tokens (token_hash, grant_id, issued_at, expires_at, access_jti, \
         access_expires_at) SELECT {hash}, {grant_id}, {issued}, {expires}, {jti}, \
         {access_expires} WHERE changes() = 1 AND {hash} IS NOT NULL; ",
        at = p(1),
        code = p(2),
        grant = grant.join(", "),
        grant_id = p(3),
        hash = p(17),
        issued = p(18),
        expires = p(19),
        jti = p(20),
        access_expires = p(21),
    )
}
