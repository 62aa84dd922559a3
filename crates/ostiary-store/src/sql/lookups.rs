//! The user flows' reads of one row by the hash of a presented secret (a session id, a code,
//! a refresh token): one text each, which SQLite runs for one key (`$1`) and PostgreSQL for a
//! batch of keys at once (`postgres/lookups.rs`, through [`for_each_key!`]).
//!
//! Each macro gives the text with the key's expression in place of `$key`.

/// A session and whether its user is disabled (`PresentedSessionRow`).
macro_rules! presented_session {
    ($key:literal) => {
        concat!(
            "SELECT s.*, u.disabled AS user_disabled FROM sessions s \
             JOIN users u ON u.user_id = s.user_id WHERE s.id_hash = ",
            $key
        )
    };
}

/// A code and whether its user is disabled (`PresentedCodeRow`).
macro_rules! presented_code {
    ($key:literal) => {
        concat!(
            "SELECT c.*, u.disabled AS user_disabled FROM authorization_codes c \
             JOIN users u ON u.user_id = c.user_id WHERE c.code_hash = ",
            $key
        )
    };
}

/// A refresh token with its grant (`RefreshFamilyRow`). The token's two columns that the
/// grant also has are renamed; the grant's are read under their own names. RFC 9700 4.14.2:
/// a rotation's answer, kept on the successor's row, is given only while that successor is
/// unused; once the client has presented the successor, it evidently received it.
macro_rules! refresh_family {
    ($key:literal) => {
        concat!(
            "SELECT g.*, r.token_hash, r.issued_at, r.expires_at, \
             r.access_jti AS token_access_jti, \
             r.access_expires_at AS token_access_expires_at, r.rotated_at, \
             CASE WHEN s.token_hash IS NOT NULL AND s.rotated_at IS NULL \
             THEN s.issuing_answer END AS rotation_answer, \
             u.disabled AS user_disabled \
             FROM refresh_tokens r \
             JOIN grants g ON g.grant_id = r.grant_id \
             JOIN users u ON u.user_id = g.user_id \
             LEFT JOIN refresh_tokens s ON s.token_hash = r.successor_hash \
             WHERE r.token_hash = ",
            $key
        )
    };
}

/// PostgreSQL: the rows of the lookup `$lookup` (one of the macros above) for each key of the
/// array `$1`, each row led by its key's `batch_number`, counted from 1 in the array's order.
/// A key with no row has none; a key given twice gets its row twice.
macro_rules! for_each_key {
    ($lookup:ident) => {
        concat!(
            "SELECT b.batch_number, f.* FROM UNNEST($1::BYTEA[]) WITH ORDINALITY \
             AS b (batch_key, batch_number) CROSS JOIN LATERAL (",
            $crate::sql::lookups::$lookup!("b.batch_key"),
            ") AS f"
        )
    };
}

pub(crate) use {for_each_key, presented_code, presented_session, refresh_family};
