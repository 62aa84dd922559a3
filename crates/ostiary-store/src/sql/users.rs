//! `UserStore` for both backends.

macro_rules! impl_user_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::UserStore for $store {
            async fn insert_user(
                &self,
                user: &ostiary_core::user::User,
            ) -> Result<(), ostiary_core::StoreError> {
                let row = $crate::rows::UserRow::from_user(user);
                sqlx::query(
                    "INSERT INTO users (user_id, username, email, password_hash, disabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(row.user_id)
                .bind(row.username)
                .bind(row.email)
                .bind(row.password_hash)
                .bind(row.disabled)
                .bind(row.created_at)
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("user"))?;
                Ok(())
            }

            async fn find_user(
                &self,
                id: &ostiary_core::user::UserId,
            ) -> Result<Option<ostiary_core::user::User>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::UserRow>("SELECT * FROM users WHERE user_id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *self.reader().await?)
                    .await
                    .map_err($crate::error::backend)?
                    .map($crate::rows::UserRow::into_user)
                    .transpose()
            }

            async fn find_user_by_username(
                &self,
                username: &ostiary_core::user::Username,
            ) -> Result<Option<ostiary_core::user::User>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::UserRow>("SELECT * FROM users WHERE username = $1")
                    .bind(username.as_str().to_owned())
                    .fetch_optional(&mut *self.reader().await?)
                    .await
                    .map_err($crate::error::backend)?
                    .map($crate::rows::UserRow::into_user)
                    .transpose()
            }

            async fn set_user_disabled(
                &self,
                id: &ostiary_core::user::UserId,
                disabled: bool,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query("UPDATE users SET disabled = $1 WHERE user_id = $2")
                    .bind(disabled)
                    .bind(id.to_string())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_user_password(
                &self,
                id: &ostiary_core::user::UserId,
                password_hash: &ostiary_core::password::PasswordHash,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE user_id = $2")
                    .bind(password_hash.as_str())
                    .bind(id.to_string())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_users(
                &self,
                after: Option<&ostiary_core::user::Username>,
                limit: u32,
            ) -> Result<Vec<ostiary_core::user::User>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::UserRow>(
                    "SELECT * FROM users WHERE ($1 IS NULL OR username > $1) \
                     ORDER BY username LIMIT $2",
                )
                .bind(after.map(|u| u.as_str().to_owned()))
                .bind(i64::from(limit))
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map($crate::rows::UserRow::into_user)
                .collect()
            }
        }
    };
}

pub(crate) use impl_user_store;
