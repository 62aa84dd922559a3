//! `AuditStore` for both backends; the batch insert itself is per backend.

macro_rules! impl_audit_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::AuditStore for $store {
            async fn append_audit_events(
                &self,
                events: &[ostiary_core::audit::AuditEvent],
            ) -> Result<(), ostiary_core::StoreError> {
                // Each backend appends a whole batch with one statement
                // (`append_audit_batch`), so a busy server pays one round trip per batch.
                self.append_audit_batch(events).await
            }

            async fn list_audit_events(
                &self,
                query: &ostiary_core::audit::AuditQuery,
            ) -> Result<Vec<ostiary_core::audit::AuditEvent>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::AuditRow>(
                    "SELECT * FROM (SELECT * FROM audit_events \
                     WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR event = $2) \
                     AND ($3 IS NULL OR subject = $3) ORDER BY id DESC LIMIT $4) AS recent \
                     ORDER BY id",
                )
                .bind(query.since.map(time::OffsetDateTime::unix_timestamp))
                .bind(query.event.map(|e| e.as_str()))
                .bind(query.subject.clone())
                .bind(i64::from(query.limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map($crate::rows::AuditRow::into_event)
                .collect()
            }
        }
    };
}

pub(crate) use impl_audit_store;
