//! `AuditStore` for both backends; the batch insert itself is per backend.

macro_rules! impl_audit_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::AuditStore for $store {
            async fn append_audit_events(
                &self,
                events: &[ostiary_core::audit::AuditEvent],
                copied: Option<&ostiary_core::audit::JournalMark>,
            ) -> Result<(), ostiary_core::StoreError> {
                // The mark moves first, and only from where the copy started: a batch whose
                // commit happened but was reported lost finds the mark moved on and writes
                // nothing (`Conflict`). The events are written by `append_audit_batch` in the
                // same transaction, so they commit with the mark or not at all.
                let mut tx = self.begin_write().await?;
                if let Some(mark) = copied {
                    let offset = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                    // A segment without a mark takes one only from 0; one with a mark moves
                    // only from where it is.
                    let moved = sqlx::query(
                        "INSERT INTO audit_journal (segment, copied) \
                         SELECT $1, CAST($3 AS BIGINT) WHERE CAST($2 AS BIGINT) = 0 \
                         OR EXISTS (SELECT 1 FROM audit_journal WHERE segment = $1) \
                         ON CONFLICT (segment) DO UPDATE SET copied = excluded.copied \
                         WHERE audit_journal.copied = $2",
                    )
                    .bind(&mark.segment)
                    .bind(offset(mark.from))
                    .bind(offset(mark.copied))
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::error::backend)?;
                    if moved.rows_affected() != 1 {
                        return Err(ostiary_core::StoreError::Conflict("audit journal mark"));
                    }
                }
                if !events.is_empty() {
                    Self::append_audit_batch(&mut tx, events).await?;
                }
                tx.commit().await.map_err($crate::error::backend)
            }

            async fn audit_journal_database(
                &self,
                candidate: &str,
            ) -> Result<String, ostiary_core::StoreError> {
                sqlx::query(
                    "INSERT INTO audit_journal_database (only_row, id) VALUES (1, $1) \
                     ON CONFLICT (only_row) DO NOTHING",
                )
                .bind(candidate)
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                sqlx::query_scalar::<_, String>("SELECT id FROM audit_journal_database")
                    .fetch_one(&mut *self.reader().await?)
                    .await
                    .map_err($crate::error::backend)
            }

            async fn audit_journal_copied(
                &self,
                segment: &str,
            ) -> Result<u64, ostiary_core::StoreError> {
                let copied = sqlx::query_scalar::<_, i64>(
                    "SELECT copied FROM audit_journal WHERE segment = $1",
                )
                .bind(segment)
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(copied.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
            }

            async fn forget_audit_journal(
                &self,
                segment: &str,
            ) -> Result<(), ostiary_core::StoreError> {
                sqlx::query("DELETE FROM audit_journal WHERE segment = $1")
                    .bind(segment)
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(())
            }

            async fn list_audit_events(
                &self,
                query: &ostiary_core::audit::AuditQuery,
            ) -> Result<Vec<(i64, ostiary_core::audit::AuditEvent)>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::NumberedAuditRow>(
                    "SELECT * FROM (SELECT * FROM audit_events \
                     WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR event = $2) \
                     AND ($3 IS NULL OR subject = $3) AND ($4 IS NULL OR id < $4) \
                     ORDER BY id DESC LIMIT $5) AS recent ORDER BY id",
                )
                .bind(query.since.map(time::OffsetDateTime::unix_timestamp))
                .bind(query.event.map(|e| e.as_str()))
                .bind(query.subject.clone())
                .bind(query.before)
                .bind(i64::from(query.limit))
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map(|row| Ok((row.id, row.row.into_event()?)))
                .collect()
            }

            async fn latest_audit_id(&self) -> Result<i64, ostiary_core::StoreError> {
                sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) FROM audit_events")
                    .fetch_one(&mut *self.reader().await?)
                    .await
                    .map_err($crate::error::backend)
            }

            async fn audit_events_after(
                &self,
                after: i64,
                limit: u32,
            ) -> Result<Vec<(i64, ostiary_core::audit::AuditEvent)>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::NumberedAuditRow>(
                    "SELECT * FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map(|row| Ok((row.id, row.row.into_event()?)))
                .collect()
            }

            async fn purge_audit_events(
                &self,
                before: time::OffsetDateTime,
                limit: u32,
            ) -> Result<u64, ostiary_core::StoreError> {
                // By id, oldest first, a bounded number at a time: each statement holds the
                // write lock briefly, so appends (which responses wait for) are not held up.
                let done = sqlx::query(
                    "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events \
                     WHERE at < $1 ORDER BY id LIMIT $2)",
                )
                .bind(before.unix_timestamp())
                .bind(i64::from(limit))
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_audit_store;
