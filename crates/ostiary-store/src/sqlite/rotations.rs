//! SQLite's batches of refresh rotations (`crate::rotations`): one multi-statement
//! transaction, run in one round trip to the writer's thread.

use std::sync::{Arc, OnceLock};

use ostiary_core::StoreError;
use sqlx::Row;

use super::checkpoints::Checkpoints;
use super::connections::Connections;
use crate::rotations::{MAX_BATCH, Rotation, WriteRotations, winners};

/// The writer and the checkpoints that follow its writes.
#[derive(Debug)]
pub(crate) struct SqliteRotations {
    pub writer: Arc<Connections>,
    pub checkpoints: Arc<Checkpoints>,
}

impl WriteRotations for SqliteRotations {
    async fn write(&self, rotations: &[Rotation]) -> Result<Vec<bool>, StoreError> {
        let Some(sql) = batch_sql(rotations.len()) else {
            return Err(StoreError::Backend(
                format!("{} refresh rotations in one batch", rotations.len()).into(),
            ));
        };
        let mut statements = sqlx::query(sql);
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
        let mut lent = self.writer.lend().await.map_err(crate::error::backend)?;
        self.checkpoints.after_write();
        let rows = lent
            .run_own_transaction(statements)
            .await
            .map_err(crate::error::write_error("refresh token"))?;
        drop(lent);
        let selected: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(crate::error::backend)?;
        winners(rotations.len(), selected)
    }
}

/// The statements of `size` rotations, made once per size (see [`rotation_sql`]); `None`
/// unless `size` is 1 to [`MAX_BATCH`].
fn batch_sql(size: usize) -> Option<&'static str> {
    static BATCHES: OnceLock<Vec<String>> = OnceLock::new();
    let batches = BATCHES.get_or_init(|| {
        (1..=MAX_BATCH)
            .map(|size| {
                let rotations: String = (0..size).map(rotation_sql).collect();
                format!("BEGIN IMMEDIATE; {rotations}COMMIT")
            })
            .collect()
    });
    batches.get(size.checked_sub(1)?).map(String::as_str)
}

/// The `index`th rotation of a batch (0-based), whose parameters are the nine from
/// `9 × index + 1`: rotated at, sealed answer, successor hash, old hash, grant, then the
/// successor's issue, expiry, access token `jti` and its expiry. The old token is marked
/// rotated with its successor, provided it is unrotated, belongs to the grant and that grant
/// is live, which selects the rotation's `index` to tell it won; the successor is inserted,
/// with the answer a retry inside the grace period gets again (RFC 9700 4.14.2), only if that
/// UPDATE changed the row (`changes()` counts the statement just before, on this connection).
/// SQLite's write lock serialises this with every revocation; `find_refresh_family` gives
/// the answer only while the successor is unused.
fn rotation_sql(index: usize) -> String {
    let p = |n: usize| format!("${}", 9 * index + n);
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
