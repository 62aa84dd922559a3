//! `ReplayStore` for both backends: one-time values as SHA-256 keys with their expiry.

macro_rules! impl_replay_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::ReplayStore for $store {
            async fn use_once(
                &self,
                key: &ostiary_core::secret::SecretHash,
                expires_at: time::OffsetDateTime,
                now: time::OffsetDateTime,
            ) -> Result<bool, ostiary_core::StoreError> {
                // One statement decides, so two instances racing on one value cannot both
                // win: the insert, or taking over a record that already expired (not yet
                // purged), counts one row; a live record counts none.
                let done = sqlx::query(
                    "INSERT INTO used_jtis (key_hash, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE used_jtis.expires_at < $3",
                )
                .bind(key.as_bytes().to_vec())
                .bind(expires_at.unix_timestamp())
                .bind(now.unix_timestamp())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn purge_expired_replay_keys(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM used_jtis WHERE expires_at < $1")
                    .bind(now.unix_timestamp())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_replay_store;
