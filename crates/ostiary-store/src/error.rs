//! Mapping database errors to `StoreError`: unique violations become `Conflict`, everything
//! else an opaque `Backend` error whose cause is only ever logged.

use ostiary_core::StoreError;

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

pub(crate) fn write_error(record: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(record),
        _ => backend(e),
    }
}
