//! PostgreSQL's batches of writes (`crate::batches`): one statement over arrays of the
//! batch's values, so one round trip and one commit for the whole batch. Rows a batch changes
//! are locked first, in the order of their keys: the order revocations and deletions of codes
//! lock them in (`sql::revoke`), so neither can hold a row a batch waits for while waiting
//! for one the batch holds. Deleting a client cascades to its grants in another order: a
//! rotation batch that deadlocks with that is written again one rotation at a time.

use std::sync::Arc;

use ostiary_core::StoreError;
use sqlx::PgPool;

use super::health::Health;
use crate::batches::{Batch, Redemption, Rotation, selected};
use crate::rows::CodeRow;

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

/// The codes `$1` to `$15` describe, one array element per code, in the column order of
/// [`CodeRow`], each numbered from 1 in its order. A code is inserted while its session is
/// stored, and its number selected (a taken hash fails the batch). The sessions are
/// key-share locked in the order of their `sid`s, as every deletion of several sessions
/// locks them (`sql::revoke::delete_in_key_order!`): a logout deleting one waits for the
/// batch, and then voids its codes; a logout that committed first leaves its codes out.
const INSERT_CODES: &str = "\
    WITH batch AS (SELECT * FROM UNNEST($1::BYTEA[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
    $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::INT8[], \
    $12::INT8[], $13::INT8[], $14::TEXT[], $15::BOOL[]) WITH ORDINALITY \
    AS b (code_hash, grant_id, client_id, user_id, sid, redirect_uri, code_challenge, nonce, \
    scopes, resources, auth_time, expires_at, consumed_at, dpop_jkt, mfa, number)), \
    live AS (SELECT sid FROM sessions WHERE sid = ANY($5) ORDER BY sid FOR KEY SHARE), \
    inserted AS (INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, \
    sid, redirect_uri, code_challenge, nonce, scopes, resources, auth_time, expires_at, \
    consumed_at, dpop_jkt, mfa) SELECT code_hash, grant_id, client_id, user_id, sid, \
    redirect_uri, code_challenge, nonce, scopes, resources, auth_time, expires_at, \
    consumed_at, dpop_jkt, mfa FROM batch WHERE sid IN (SELECT sid FROM live) \
    RETURNING code_hash) \
    SELECT number FROM batch WHERE code_hash IN (SELECT code_hash FROM inserted)";

/// The redemptions `$1` to `$21` describe, one array element per redemption (consumed at, the
/// code's hash, the grant's columns in the order of `GrantRow`, then its first refresh
/// token's hash, issue, expiry, access token `jti` and expiry, all NULL when the grant has
/// none, and last the grant's `mfa`), each numbered from 1 in its order. A code is consumed provided it is unconsumed;
/// only then are its grant and refresh token inserted, and the redemption's number selected
/// to tell it won. Two redemptions of one code in a batch update its row once: one wins. The
/// foreign key of a refresh token on its grant is checked at the statement's end.
///
/// The unconsumed codes are row-locked first, in the order of their hashes, as every
/// statement that deletes codes locks them (`sql::revoke::delete_in_key_order!`): a logout waits for
/// the batch (and then revokes the grants it made) or the batch finds the code gone.
const REDEEM: &str = "\
    WITH batch AS (SELECT * FROM UNNEST($1::INT8[], $2::BYTEA[], $3::TEXT[], $4::TEXT[], \
    $5::TEXT[], $6::TEXT[], $7::BOOL[], $8::TEXT[], $9::TEXT[], $10::INT8[], $11::INT8[], \
    $12::TEXT[], $13::INT8[], $14::INT8[], $15::TEXT[], $16::BYTEA[], $17::INT8[], \
    $18::INT8[], $19::TEXT[], $20::INT8[], $21::BOOL[]) WITH ORDINALITY \
    AS b (at, code_hash, grant_id, client_id, user_id, sid, offline, scopes, audiences, \
    auth_time, created_at, access_jti, access_expires_at, revoked_at, dpop_jkt, \
    refresh_hash, refresh_issued_at, refresh_expires_at, refresh_access_jti, \
    refresh_access_expires_at, mfa, number)), \
    unconsumed AS (SELECT code_hash FROM authorization_codes WHERE code_hash = ANY($2) \
    AND consumed_at IS NULL ORDER BY code_hash FOR UPDATE), \
    consumed AS (UPDATE authorization_codes AS c SET consumed_at = b.at FROM batch AS b \
    WHERE c.code_hash = b.code_hash AND c.consumed_at IS NULL \
    AND c.code_hash IN (SELECT code_hash FROM unconsumed) RETURNING b.*), \
    refreshed AS (INSERT INTO refresh_tokens (token_hash, grant_id, issued_at, expires_at, \
    access_jti, access_expires_at) SELECT refresh_hash, grant_id, refresh_issued_at, \
    refresh_expires_at, refresh_access_jti, refresh_access_expires_at FROM consumed \
    WHERE refresh_hash IS NOT NULL), \
    granted AS (INSERT INTO grants (grant_id, client_id, user_id, sid, offline, scopes, \
    audiences, auth_time, created_at, access_jti, access_expires_at, revoked_at, dpop_jkt, \
    mfa) SELECT grant_id, client_id, user_id, sid, offline, scopes, audiences, auth_time, \
    created_at, access_jti, access_expires_at, revoked_at, dpop_jkt, mfa FROM consumed) \
    SELECT number FROM consumed";

/// Connections of the batches' pool the writes take: one per queue, each writing one batch
/// at a time.
pub(crate) const CONNECTIONS: u32 = 3;

/// The batches' own pool (sequential scans off, see `PgStore::open`), and the health probe
/// that keeps statements from waiting on a database that does not answer.
#[derive(Debug, Clone)]
pub(crate) struct PgBatches {
    pub pool: PgPool,
    pub health: Arc<Health>,
}

/// One array of the items' values.
fn each<'a, I, T>(items: &'a [I], value: impl Fn(&'a I) -> T) -> Vec<T> {
    items.iter().map(value).collect()
}

impl PgBatches {
    /// Runs `statement`, whose rows are the numbers (from 1, `WITH ORDINALITY`) of the items
    /// that took effect among `size`. A unique violation is a `Conflict` over `record`.
    async fn run(
        &self,
        size: usize,
        record: &'static str,
        statement: sqlx::query::QueryScalar<'_, sqlx::Postgres, i64, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<bool>, StoreError> {
        self.health.check()?;
        let numbers = statement
            .fetch_all(&self.pool)
            .await
            .map_err(crate::error::write_error(record))?;
        selected(size, numbers.into_iter().map(|number| number - 1))
    }
}

impl Batch<Rotation> for PgBatches {
    type Output = bool;

    async fn run(&self, rotations: &[Rotation]) -> Result<Vec<bool>, StoreError> {
        let statement = sqlx::query_scalar(ROTATE)
            .bind(each(rotations, |r| r.at))
            .bind(each(rotations, |r| r.answer.as_slice()))
            .bind(each(rotations, |r| r.new.token_hash.as_slice()))
            .bind(each(rotations, |r| r.old.as_slice()))
            .bind(each(rotations, |r| r.new.grant_id.as_str()))
            .bind(each(rotations, |r| r.new.issued_at))
            .bind(each(rotations, |r| r.new.expires_at))
            .bind(each(rotations, |r| r.new.access_jti.as_str()))
            .bind(each(rotations, |r| r.new.access_expires_at));
        self.run(rotations.len(), "refresh token", statement).await
    }
}

impl Batch<CodeRow> for PgBatches {
    type Output = bool;

    async fn run(&self, codes: &[CodeRow]) -> Result<Vec<bool>, StoreError> {
        let statement = sqlx::query_scalar(INSERT_CODES)
            .bind(each(codes, |c| c.code_hash.as_slice()))
            .bind(each(codes, |c| c.grant_id.as_str()))
            .bind(each(codes, |c| c.client_id.as_str()))
            .bind(each(codes, |c| c.user_id.as_str()))
            .bind(each(codes, |c| c.sid.as_str()))
            .bind(each(codes, |c| c.redirect_uri.as_str()))
            .bind(each(codes, |c| c.code_challenge.as_str()))
            .bind(each(codes, |c| c.nonce.as_deref()))
            .bind(each(codes, |c| c.scopes.as_str()))
            .bind(each(codes, |c| c.resources.as_str()))
            .bind(each(codes, |c| c.auth_time))
            .bind(each(codes, |c| c.expires_at))
            .bind(each(codes, |c| c.consumed_at))
            .bind(each(codes, |c| c.dpop_jkt.as_deref()))
            .bind(each(codes, |c| c.mfa));
        self.run(codes.len(), "authorization code", statement).await
    }
}

impl Batch<Redemption> for PgBatches {
    type Output = bool;

    async fn run(&self, redemptions: &[Redemption]) -> Result<Vec<bool>, StoreError> {
        let r = redemptions;
        let refresh = |value: fn(&crate::rows::RefreshTokenRow) -> i64| {
            each(r, move |r| r.refresh.as_ref().map(value))
        };
        let statement = sqlx::query_scalar(REDEEM)
            .bind(each(r, |r| r.at))
            .bind(each(r, |r| r.code_hash.as_slice()))
            .bind(each(r, |r| r.grant.grant_id.as_str()))
            .bind(each(r, |r| r.grant.client_id.as_str()))
            .bind(each(r, |r| r.grant.user_id.as_str()))
            .bind(each(r, |r| r.grant.sid.as_str()))
            .bind(each(r, |r| r.grant.offline))
            .bind(each(r, |r| r.grant.scopes.as_str()))
            .bind(each(r, |r| r.grant.audiences.as_str()))
            .bind(each(r, |r| r.grant.auth_time))
            .bind(each(r, |r| r.grant.created_at))
            .bind(each(r, |r| r.grant.access_jti.as_str()))
            .bind(each(r, |r| r.grant.access_expires_at))
            .bind(each(r, |r| r.grant.revoked_at))
            .bind(each(r, |r| r.grant.dpop_jkt.as_deref()))
            .bind(each(r, |r| {
                r.refresh.as_ref().map(|t| t.token_hash.as_slice())
            }))
            .bind(refresh(|t| t.issued_at))
            .bind(refresh(|t| t.expires_at))
            .bind(each(r, |r| {
                r.refresh.as_ref().map(|t| t.access_jti.as_str())
            }))
            .bind(refresh(|t| t.access_expires_at))
            .bind(each(r, |r| r.grant.mfa));
        self.run(r.len(), "grant", statement).await
    }
}
