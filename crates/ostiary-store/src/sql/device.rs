//! `DeviceAuthorizationStore` for both backends. Every change of status is one conditional
//! statement, so of two instances answering or redeeming the same authorization, one wins.

macro_rules! impl_device_authorization_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::DeviceAuthorizationStore for $store {
            async fn insert_device_authorization(
                &self,
                device: &ostiary_core::device::DeviceAuthorization,
            ) -> Result<(), ostiary_core::StoreError> {
                let row = $crate::rows::DeviceRow::from_device(device);
                sqlx::query(
                    "INSERT INTO device_authorizations (device_code_hash, user_code_hash, \
                     client_id, scopes, resources, expires_at, interval_secs, last_polled_at, \
                     status, user_id, sid, auth_time, mfa) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(row.device_code_hash)
                .bind(row.user_code_hash)
                .bind(row.client_id)
                .bind(row.scopes)
                .bind(row.resources)
                .bind(row.expires_at)
                .bind(row.interval_secs)
                .bind(row.last_polled_at)
                .bind(row.status)
                .bind(row.user_id)
                .bind(row.sid)
                .bind(row.auth_time)
                .bind(row.mfa)
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("device authorization"))?;
                Ok(())
            }

            async fn find_device_authorization(
                &self,
                device_code_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<Option<ostiary_core::device::DeviceAuthorization>, ostiary_core::StoreError>
            {
                sqlx::query_as::<_, $crate::rows::DeviceRow>(
                    "SELECT * FROM device_authorizations WHERE device_code_hash = $1",
                )
                .bind(device_code_hash.as_bytes().to_vec())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::DeviceRow::into_device)
                .transpose()
            }

            async fn find_device_authorization_by_user_code(
                &self,
                user_code_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<Option<ostiary_core::device::DeviceAuthorization>, ostiary_core::StoreError>
            {
                sqlx::query_as::<_, $crate::rows::DeviceRow>(
                    "SELECT * FROM device_authorizations WHERE user_code_hash = $1",
                )
                .bind(user_code_hash.as_bytes().to_vec())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::DeviceRow::into_device)
                .transpose()
            }

            async fn record_device_poll(
                &self,
                device_code_hash: &ostiary_core::secret::SecretHash,
                seen: Option<time::OffsetDateTime>,
                at: time::OffsetDateTime,
                interval_secs: i64,
            ) -> Result<bool, ostiary_core::StoreError> {
                // Never polled is stored as NULL and compared as 0: no poll is ever at 0.
                let done = sqlx::query(
                    "UPDATE device_authorizations SET last_polled_at = $1, interval_secs = $2 \
                     WHERE device_code_hash = $3 AND COALESCE(last_polled_at, 0) = $4",
                )
                .bind(at.unix_timestamp())
                .bind(interval_secs)
                .bind(device_code_hash.as_bytes().to_vec())
                .bind(seen.map_or(0, time::OffsetDateTime::unix_timestamp))
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn settle_device_authorization(
                &self,
                device_code_hash: &ostiary_core::secret::SecretHash,
                status: &ostiary_core::device::DeviceStatus,
                at: time::OffsetDateTime,
            ) -> Result<bool, ostiary_core::StoreError> {
                let approval = match status {
                    ostiary_core::device::DeviceStatus::Approved(approval) => Some(approval),
                    _ => None,
                };
                // An approval is stored only while its session is: a logout that ended the
                // session first leaves it pending; one that comes after deletes it (on
                // PostgreSQL it waits for the session's key-share lock).
                let mut writer = self.writer().await?;
                let lock = if $crate::sql::revoke::RowLocks::takes_row_locks(&writer) {
                    " FOR KEY SHARE"
                } else {
                    ""
                };
                let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE device_authorizations SET status = $1, user_id = $2, sid = $3, \
                     auth_time = $4, mfa = $7 \
                     WHERE device_code_hash = $5 AND status = 'pending' AND expires_at > $6 \
                     AND ($3 IS NULL OR EXISTS (SELECT 1 FROM sessions WHERE sid = $3{lock}))"
                )))
                .bind(status.as_str())
                .bind(approval.map(|a| a.user_id.to_string()))
                .bind(approval.map(|a| a.sid.clone()))
                .bind(approval.map(|a| a.auth_time.unix_timestamp()))
                .bind(device_code_hash.as_bytes().to_vec())
                .bind(at.unix_timestamp())
                .bind(approval.is_some_and(|a| a.mfa))
                .execute(&mut *writer)
                .await
                .map_err($crate::error::write_error("device authorization"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn redeem_device_code(
                &self,
                device_code_hash: &ostiary_core::secret::SecretHash,
                grant: &ostiary_core::grant::Grant,
                refresh: Option<&ostiary_core::grant::RefreshToken>,
            ) -> Result<bool, ostiary_core::StoreError> {
                let mut tx = self.begin_write().await?;
                let redeemed = sqlx::query(
                    "UPDATE device_authorizations SET status = 'redeemed' \
                     WHERE device_code_hash = $1 AND status = 'approved'",
                )
                .bind(device_code_hash.as_bytes().to_vec())
                .execute(&mut *tx)
                .await
                .map_err($crate::error::backend)?;
                if redeemed.rows_affected() != 1 {
                    // Redeemed by another poll, or voided: nothing may be issued.
                    tx.rollback().await.map_err($crate::error::backend)?;
                    return Ok(false);
                }
                $crate::sql::grants::insert_grant!(tx, grant, refresh);
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(true)
            }
        }
    };
}

pub(crate) use impl_device_authorization_store;
