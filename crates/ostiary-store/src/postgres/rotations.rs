//! PostgreSQL's batches of refresh rotations (`crate::rotations`): one statement over arrays
//! of the batch's values, so one round trip and one commit for the whole batch.

use std::sync::Arc;

use ostiary_core::StoreError;
use sqlx::PgPool;

use super::health::Health;
use crate::rotations::{Rotation, WriteRotations, winners};

/// The rotations `$1` to `$9` describe, one array element per rotation (rotated at, sealed
/// answer, successor hash, old hash, grant, then the successor's issue, expiry, access token
/// `jti` and its expiry), each numbered from 1 in its order. A rotation's old token is marked
/// rotated with its successor, provided it is unrotated, belongs to the grant and that grant
/// is live; only then is the successor inserted, with the answer a retry inside the grace
/// period gets again (RFC 9700 4.14.2; `find_refresh_family` gives it only while the
/// successor is unused), and the rotation's number selected to tell it won. Two rotations of
/// one old token in a batch update its row once: one wins.
///
/// The live grants are row-locked first (`FOR NO KEY UPDATE`), in the order of their ids, so
/// a revocation committing between a caller's check of its grant and this insert cannot miss
/// the successor's access token (revocation and rotation of one family are serialised).
/// Other instances' batches and revocations (`sql::revoke::revoke_grants!`) lock grants in
/// the same order, so none can hold a grant a batch waits for while waiting for one the batch
/// holds. Deleting a client or a user cascades to its grants in another order: a batch that
/// deadlocks with that is written again one rotation at a time.
const ROTATE: &str = "\
    WITH batch AS (SELECT * FROM UNNEST($1::INT8[], $2::BYTEA[], $3::BYTEA[], $4::BYTEA[], \
    $5::TEXT[], $6::INT8[], $7::INT8[], $8::TEXT[], $9::INT8[]) WITH ORDINALITY \
    AS b (at, answer, new_hash, old_hash, grant_id, issued_at, expires_at, access_jti, \
    access_expires_at, number)), \
    live AS (SELECT grant_id FROM grants WHERE grant_id = ANY($5) AND revoked_at IS NULL \
    ORDER BY grant_id FOR NO KEY UPDATE), \
    rotated AS (UPDATE refresh_tokens AS r SET rotated_at = b.at, successor_hash = b.new_hash \
    FROM batch AS b WHERE r.token_hash = b.old_hash AND r.rotated_at IS NULL \
    AND r.grant_id = b.grant_id AND b.grant_id IN (SELECT grant_id FROM live) \
    RETURNING b.*), \
    inserted AS (INSERT INTO refresh_tokens (token_hash, grant_id, issued_at, expires_at, \
    access_jti, access_expires_at, issuing_answer) SELECT new_hash, grant_id, issued_at, \
    expires_at, access_jti, access_expires_at, answer FROM rotated) \
    SELECT number FROM rotated";

/// The pool, and the health probe that keeps statements from waiting on a database that does
/// not answer.
#[derive(Debug)]
pub(crate) struct PgRotations {
    pub pool: PgPool,
    pub health: Arc<Health>,
}

impl WriteRotations for PgRotations {
    async fn write(&self, rotations: &[Rotation]) -> Result<Vec<bool>, StoreError> {
        self.health.check()?;
        let each = |value: fn(&Rotation) -> i64| rotations.iter().map(value).collect::<Vec<_>>();
        let answers: Vec<&[u8]> = rotations.iter().map(|r| r.answer.as_slice()).collect();
        let successors: Vec<&[u8]> = rotations
            .iter()
            .map(|r| r.new.token_hash.as_slice())
            .collect();
        let olds: Vec<&[u8]> = rotations.iter().map(|r| r.old.as_slice()).collect();
        let grants: Vec<&str> = rotations.iter().map(|r| r.new.grant_id.as_str()).collect();
        let jtis: Vec<&str> = rotations
            .iter()
            .map(|r| r.new.access_jti.as_str())
            .collect();
        let selected: Vec<i64> = sqlx::query_scalar(ROTATE)
            .bind(each(|r| r.at))
            .bind(answers)
            .bind(successors)
            .bind(olds)
            .bind(grants)
            .bind(each(|r| r.new.issued_at))
            .bind(each(|r| r.new.expires_at))
            .bind(jtis)
            .bind(each(|r| r.new.access_expires_at))
            .fetch_all(&self.pool)
            .await
            .map_err(crate::error::write_error("refresh token"))?;
        // WITH ORDINALITY numbers from 1.
        winners(
            rotations.len(),
            selected.into_iter().map(|number| number - 1),
        )
    }
}
