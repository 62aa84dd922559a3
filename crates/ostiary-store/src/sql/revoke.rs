//! Grant revocation, shared by every `revoke_*` method of `GrantStore`.
//!
//! Both backends accept the statements here: `UPDATE ... AS g`, `INSERT ... SELECT ... ON
//! CONFLICT (jti) DO NOTHING` (SQLite needs the `WHERE` these selects always have to tell the
//! upsert clause from a join constraint), and `$n` placeholders used more than once.

/// Inside the write transaction `$tx`, revokes the live grants matching `$filter` (a SQL
/// condition on the alias `g`; its placeholders start at `$2`, bound from `$bind`), at `$at`.
/// The unexpired access tokens of those grants and of their refresh tokens join the revoked
/// access tokens in the same transaction, and the grants are added to the running total of
/// `$reason` (a `RevocationReason`). Evaluates to the number of grants revoked; returns early
/// from the enclosing function on a database error.
///
/// The grants are marked first and the tokens then selected by `revoked_at = $at`, so exactly
/// the grants this statement revoked are covered even when a concurrent redemption committed
/// a new grant in between (PostgreSQL runs each statement on a fresh snapshot). A grant another
/// transaction revoked in the same second may be covered twice; the upsert makes that a no-op.
macro_rules! revoke_grants {
    ($tx:expr, $at:expr, $reason:expr, $filter:literal $(, $bind:expr)* $(,)?) => {{
        let at: i64 = $at.unix_timestamp();
        if $crate::sql::revoke::RowLocks::takes_row_locks(&$tx) {
            // The grants are locked in the order of their ids before any is changed: the
            // order refresh rotation batches lock them in (`postgres/batches.rs`). In
            // another order a revocation and a batch could each hold a grant the other waits
            // for. `$1` is bound for the filter's numbering.
            sqlx::query(concat!(
                "SELECT g.grant_id FROM grants AS g WHERE $1::BIGINT IS NOT NULL \
                 AND g.revoked_at IS NULL AND ",
                $filter,
                " ORDER BY g.grant_id FOR NO KEY UPDATE"
            ))
            .bind(at)
            $(.bind($bind))*
            .execute(&mut *$tx)
            .await
            .map_err($crate::error::backend)?;
        }
        let revoked = sqlx::query(concat!(
            "UPDATE grants AS g SET revoked_at = $1 WHERE g.revoked_at IS NULL AND ",
            $filter
        ))
        .bind(at)
        $(.bind($bind))*
        .execute(&mut *$tx)
        .await
        .map_err($crate::error::backend)?
        .rows_affected();
        if revoked > 0 {
            sqlx::query(concat!(
                "INSERT INTO revoked_access_tokens (jti, client_id, expires_at) \
                 SELECT g.access_jti, g.client_id, g.access_expires_at FROM grants AS g \
                 WHERE g.revoked_at = $1 AND g.access_expires_at > $1 AND ",
                $filter,
                " ON CONFLICT (jti) DO NOTHING"
            ))
            .bind(at)
            $(.bind($bind))*
            .execute(&mut *$tx)
            .await
            .map_err($crate::error::backend)?;
            sqlx::query(concat!(
                "INSERT INTO revoked_access_tokens (jti, client_id, expires_at) \
                 SELECT r.access_jti, g.client_id, r.access_expires_at \
                 FROM refresh_tokens AS r JOIN grants AS g ON g.grant_id = r.grant_id \
                 WHERE g.revoked_at = $1 AND r.access_expires_at > $1 AND ",
                $filter,
                " ON CONFLICT (jti) DO NOTHING"
            ))
            .bind(at)
            $(.bind($bind))*
            .execute(&mut *$tx)
            .await
            .map_err($crate::error::backend)?;
            $crate::sql::revoke::count_revocations!($tx, $reason, revoked);
        }
        revoked
    }};
}

/// Whether the backend of a write transaction (or of a writer connection) takes row locks,
/// which two transactions can take in opposite orders: PostgreSQL does; SQLite's one writer
/// runs whole transactions one at a time.
pub(crate) trait RowLocks {
    fn takes_row_locks(&self) -> bool;
}

impl RowLocks for crate::sqlite::WriteTransaction<'_> {
    fn takes_row_locks(&self) -> bool {
        false
    }
}

impl RowLocks for sqlx::Transaction<'_, sqlx::Postgres> {
    fn takes_row_locks(&self) -> bool {
        true
    }
}

impl RowLocks for crate::sqlite::Lent<'_> {
    fn takes_row_locks(&self) -> bool {
        false
    }
}

impl RowLocks for sqlx::pool::PoolConnection<sqlx::Postgres> {
    fn takes_row_locks(&self) -> bool {
        true
    }
}

/// Inside the transaction `$tx`, adds `$count` (a `u64`) to the running total of `$reason`
/// (a `RevocationReason`); returns early from the enclosing function on a database error.
macro_rules! count_revocations {
    ($tx:expr, $reason:expr, $count:expr) => {{
        let reason: ostiary_core::grant::RevocationReason = $reason;
        sqlx::query(
            "INSERT INTO revocation_counts (reason, total) VALUES ($1, $2) \
             ON CONFLICT (reason) DO UPDATE SET total = revocation_counts.total + excluded.total",
        )
        .bind(reason.as_str())
        .bind(i64::try_from($count).unwrap_or(i64::MAX))
        .execute(&mut *$tx)
        .await
        .map_err($crate::error::backend)?;
    }};
}

/// Inside the write transaction `$tx`, deletes the rows of `$table` matching `$filter` (a
/// SQL condition given as string literals, its placeholders from `$1`, bound from `$bind`).
/// Evaluates to the number deleted; returns early from the enclosing function on a database
/// error. Where the backend takes row locks, the statement locks the rows in the order of
/// their `$key` before it deletes any: the order the batches lock them in
/// (`postgres/batches.rs`: codes by `code_hash`, sessions by `sid`). In another order a
/// deletion (a logout, a user's sessions) and a batch could each hold a row the other waits
/// for, and PostgreSQL would abort one of them. One statement, so that a row committed
/// meanwhile is not deleted outside that order.
macro_rules! delete_in_key_order {
    ($tx:expr, $table:literal, $key:literal, [$($filter:literal),+] $(, $bind:expr)* $(,)?) => {{
        let statement = if $crate::sql::revoke::RowLocks::takes_row_locks(&$tx) {
            concat!(
                "DELETE FROM ", $table, " WHERE ", $key, " IN (SELECT ", $key, " FROM ",
                $table, " WHERE ", $($filter),+, " ORDER BY ", $key, " FOR UPDATE)"
            )
        } else {
            concat!("DELETE FROM ", $table, " WHERE ", $($filter),+)
        };
        sqlx::query(statement)
            $(.bind($bind))*
            .execute(&mut *$tx)
            .await
            .map_err($crate::error::backend)?
            .rows_affected()
    }};
}

/// Inside the write transaction `$tx`, locks the rows of `$table` matching `$filter` (as
/// [`delete_in_key_order!`] takes it) in the order of their `$key`, where the backend takes
/// row locks; nothing on SQLite. For a transaction that deletes those rows last but must
/// hold them from its start. Returns early from the enclosing function on a database error.
macro_rules! lock_in_key_order {
    ($tx:expr, $table:literal, $key:literal, [$($filter:literal),+] $(, $bind:expr)* $(,)?) => {{
        if $crate::sql::revoke::RowLocks::takes_row_locks(&$tx) {
            sqlx::query(concat!(
                "SELECT ", $key, " FROM ", $table, " WHERE ", $($filter),+,
                " ORDER BY ", $key, " FOR UPDATE"
            ))
            $(.bind($bind))*
            .execute(&mut *$tx)
            .await
            .map_err($crate::error::backend)?;
        }
    }};
}

/// Inside the write transaction `$tx`, deletes the unredeemed codes and approved device
/// authorizations whose `$column` (`sid`, `user_id` or `client_id`) is `$value`: what would
/// still become a grant after the grants matching it are revoked. Run it before
/// `revoke_grants!`, so that a redemption in flight either finished first (its grant is then
/// revoked) or finds its code gone. Returns early from the enclosing function on a database
/// error.
macro_rules! void_unredeemed {
    ($tx:expr, $column:literal, $value:expr) => {{
        let value: String = $value;
        $crate::sql::revoke::delete_in_key_order!(
            $tx,
            "authorization_codes",
            "code_hash",
            [$column, " = $1 AND consumed_at IS NULL"],
            value.clone()
        );
        sqlx::query(concat!(
            "DELETE FROM device_authorizations WHERE ",
            $column,
            " = $1 AND status = 'approved'"
        ))
        .bind(value)
        .execute(&mut *$tx)
        .await
        .map_err($crate::error::backend)?;
    }};
}

pub(crate) use {
    count_revocations, delete_in_key_order, lock_in_key_order, revoke_grants, void_unredeemed,
};
