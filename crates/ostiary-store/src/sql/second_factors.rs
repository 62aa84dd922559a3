//! `SecondFactorStore` for both backends.

macro_rules! impl_second_factor_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::SecondFactorStore for $store {
            async fn insert_totp(
                &self,
                totp: &ostiary_core::mfa::StoredTotp,
            ) -> Result<bool, ostiary_core::StoreError> {
                // One statement: of two enrolments racing, the first stands.
                let done = sqlx::query(
                    "INSERT INTO user_totp (user_id, sealed_secret, last_step, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(totp.user_id.to_string())
                .bind(totp.sealed_secret.clone())
                .bind(totp.last_step)
                .bind(totp.created_at.unix_timestamp())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("second factor"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn find_totp(
                &self,
                user_id: &ostiary_core::user::UserId,
            ) -> Result<Option<ostiary_core::mfa::StoredTotp>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::TotpRow>(
                    "SELECT * FROM user_totp WHERE user_id = $1",
                )
                .bind(user_id.to_string())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::TotpRow::into_totp)
                .transpose()
            }

            async fn list_totp(
                &self,
            ) -> Result<Vec<ostiary_core::mfa::StoredTotp>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::TotpRow>(
                    "SELECT * FROM user_totp ORDER BY user_id",
                )
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map($crate::rows::TotpRow::into_totp)
                .collect()
            }

            async fn delete_totp(
                &self,
                user_id: &ostiary_core::user::UserId,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
                    .bind(user_id.to_string())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn use_totp_step(
                &self,
                user_id: &ostiary_core::user::UserId,
                step: i64,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query(
                    "UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND last_step < $1",
                )
                .bind(step)
                .bind(user_id.to_string())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn reseal_totp(
                &self,
                user_id: &ostiary_core::user::UserId,
                old: &[u8],
                new: &[u8],
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query(
                    "UPDATE user_totp SET sealed_secret = $1 \
                     WHERE user_id = $2 AND sealed_secret = $3",
                )
                .bind(new.to_vec())
                .bind(user_id.to_string())
                .bind(old.to_vec())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_second_factor_store;
