//! Mapping database errors to `StoreError`: unique violations become `Conflict`, values the
//! database refuses `Unstorable`, everything else an opaque `Backend` error whose cause is
//! only ever logged.

use ostiary_core::StoreError;

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    match &e {
        // SQLSTATE class 22, data exception (PostgreSQL: a NUL in text, an invalid byte
        // sequence, a number out of range): the input is at fault, not the database, and
        // retrying cannot help.
        // Class 54, program limit exceeded (an index row too large), is the input's fault too.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|code| code.starts_with("22") || code.starts_with("54")) =>
        {
            StoreError::Unstorable(Box::new(e))
        }
        _ => StoreError::Backend(Box::new(e)),
    }
}

pub(crate) fn write_error(record: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(record),
        _ => backend(e),
    }
}
