//! `BffSessionStore` for both backends.

macro_rules! impl_bff_session_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::bff::BffSessionStore for $store {
            async fn insert_bff_session(
                &self,
                session: &ostiary_core::bff::BffSession,
            ) -> Result<(), ostiary_core::StoreError> {
                sqlx::query(
                    "INSERT INTO bff_sessions (id_hash, sub, sid, sealed, version, \
                     refresh_claimed_until, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(session.id_hash.as_bytes().to_vec())
                .bind(&session.sub)
                .bind(&session.sid)
                .bind(&session.sealed)
                .bind(session.version)
                .bind(session.refresh_claimed_until.map(|t| t.unix_timestamp()))
                .bind(session.created_at.unix_timestamp())
                .bind(session.expires_at.unix_timestamp())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("bff session"))?;
                Ok(())
            }

            async fn find_bff_session(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<Option<ostiary_core::bff::BffSession>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::BffSessionRow>(
                    "SELECT id_hash, sub, sid, sealed, version, refresh_claimed_until, \
                     created_at, expires_at FROM bff_sessions WHERE id_hash = $1",
                )
                .bind(id_hash.as_bytes().to_vec())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::BffSessionRow::into_session)
                .transpose()
            }

            async fn claim_bff_refresh(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
                version: i64,
                now: time::OffsetDateTime,
                until: time::OffsetDateTime,
            ) -> Result<bool, ostiary_core::StoreError> {
                // One statement: of two instances racing for the claim, one updates the row.
                let done = sqlx::query(
                    "UPDATE bff_sessions SET refresh_claimed_until = $3 \
                     WHERE id_hash = $1 AND version = $2 \
                     AND (refresh_claimed_until IS NULL OR refresh_claimed_until <= $4)",
                )
                .bind(id_hash.as_bytes().to_vec())
                .bind(version)
                .bind(until.unix_timestamp())
                .bind(now.unix_timestamp())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_bff_refresh(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
                version: i64,
            ) -> Result<(), ostiary_core::StoreError> {
                sqlx::query(
                    "UPDATE bff_sessions SET refresh_claimed_until = NULL \
                     WHERE id_hash = $1 AND version = $2",
                )
                .bind(id_hash.as_bytes().to_vec())
                .bind(version)
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(())
            }

            async fn update_bff_session(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
                version: i64,
                sealed: &[u8],
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query(
                    "UPDATE bff_sessions \
                     SET sealed = $3, version = version + 1, refresh_claimed_until = NULL \
                     WHERE id_hash = $1 AND version = $2",
                )
                .bind(id_hash.as_bytes().to_vec())
                .bind(version)
                .bind(sealed)
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_bff_session(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM bff_sessions WHERE id_hash = $1")
                    .bind(id_hash.as_bytes().to_vec())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_bff_sessions_by_sid(
                &self,
                sid: &str,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM bff_sessions WHERE sid = $1")
                    .bind(sid)
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }

            async fn delete_bff_sessions_by_sub(
                &self,
                sub: &str,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM bff_sessions WHERE sub = $1")
                    .bind(sub)
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }

            async fn purge_expired_bff_sessions(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM bff_sessions WHERE expires_at < $1")
                    .bind(now.unix_timestamp())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_bff_session_store;
