//! `SessionStore` for both backends.

macro_rules! impl_session_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::SessionStore for $store {
            async fn insert_session(
                &self,
                session: &ostiary_core::session::Session,
            ) -> Result<(), ostiary_core::StoreError> {
                let row = $crate::rows::SessionRow::from_session(session);
                sqlx::query(
                    "INSERT INTO sessions (id_hash, sid, user_id, auth_time, last_seen, expires_at, mfa) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(row.id_hash)
                .bind(row.sid)
                .bind(row.user_id)
                .bind(row.auth_time)
                .bind(row.last_seen)
                .bind(row.expires_at)
                .bind(row.mfa)
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("session"))?;
                Ok(())
            }

            async fn list_user_sessions(
                &self,
                user_id: &ostiary_core::user::UserId,
                now: time::OffsetDateTime,
                limit: u32,
            ) -> Result<Vec<ostiary_core::session::Session>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::SessionRow>(
                    "SELECT * FROM sessions WHERE user_id = $1 AND expires_at > $2 \
                     ORDER BY auth_time DESC, sid LIMIT $3",
                )
                .bind(user_id.to_string())
                .bind(now.unix_timestamp())
                .bind(i64::from(limit))
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map($crate::rows::SessionRow::into_session)
                .collect()
            }

            async fn count_live_sessions(
                &self,
                now: time::OffsetDateTime,
                seen_since: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND last_seen >= $2",
                )
                .bind(now.unix_timestamp())
                .bind(seen_since.unix_timestamp())
                .fetch_one(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn find_presented_session(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<Option<ostiary_core::session::PresentedSession>, ostiary_core::StoreError>
            {
                self.presented_session_row(id_hash)
                    .await?
                    .map($crate::rows::PresentedSessionRow::into_presented)
                    .transpose()
            }

            async fn touch_session(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
                last_seen: time::OffsetDateTime,
            ) -> Result<(), ostiary_core::StoreError> {
                sqlx::query("UPDATE sessions SET last_seen = $1 WHERE id_hash = $2")
                    .bind(last_seen.unix_timestamp())
                    .bind(id_hash.as_bytes().to_vec())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(())
            }

            async fn delete_session(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<Option<ostiary_core::session::Session>, ostiary_core::StoreError> {
                // One statement: of two concurrent logouts only one gets the session back
                // (and so audits the logout).
                sqlx::query_as::<_, $crate::rows::SessionRow>(
                    "DELETE FROM sessions WHERE id_hash = $1 RETURNING *",
                )
                .bind(id_hash.as_bytes().to_vec())
                .fetch_optional(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::SessionRow::into_session)
                .transpose()
            }

            async fn purge_expired_sessions(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                // An expired session takes what was bound to it, as a logout does: its
                // unredeemed codes and device approvals, and its grants that are not offline.
                let mut tx = self.begin_write().await?;
                // The expired sessions are held from the start: a code stored for one of them
                // meanwhile (its batch key-share locks the session) would outlive the purge.
                $crate::sql::revoke::lock_in_key_order!(
                    tx,
                    "sessions",
                    "sid",
                    ["expires_at < $1"],
                    now.unix_timestamp()
                );
                $crate::sql::revoke::delete_in_key_order!(
                    tx,
                    "authorization_codes",
                    "code_hash",
                    [
                        "consumed_at IS NULL AND sid IN ",
                        "(SELECT sid FROM sessions WHERE expires_at < $1)"
                    ],
                    now.unix_timestamp()
                );
                sqlx::query(
                    "DELETE FROM device_authorizations WHERE status = 'approved' \
                     AND sid IN (SELECT sid FROM sessions WHERE expires_at < $1)",
                )
                .bind(now.unix_timestamp())
                .execute(&mut *tx)
                .await
                .map_err($crate::error::backend)?;
                $crate::sql::revoke::revoke_grants!(
                    tx,
                    now,
                    ostiary_core::grant::RevocationReason::SessionExpired,
                    "g.offline = FALSE AND g.sid IN (SELECT sid FROM sessions WHERE expires_at < $1)"
                );
                let done = $crate::sql::revoke::delete_in_key_order!(
                    tx,
                    "sessions",
                    "sid",
                    ["expires_at < $1"],
                    now.unix_timestamp()
                );
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(done)
            }
        }
    };
}

pub(crate) use impl_session_store;
