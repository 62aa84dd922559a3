//! `RegistrationStore` for both backends.

macro_rules! impl_registration_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::RegistrationStore for $store {
            async fn insert_registration_token(
                &self,
                token: &ostiary_core::registration::RegistrationToken,
            ) -> Result<(), ostiary_core::StoreError> {
                sqlx::query(
                    "INSERT INTO registration_tokens \
                     (token_id, token_hash, created_at, expires_at, max_uses, uses) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(token.token_id.clone())
                .bind(token.token_hash.as_bytes().to_vec())
                .bind(token.created_at.unix_timestamp())
                .bind(token.expires_at.unix_timestamp())
                .bind(i64::from(token.max_uses))
                .bind(i64::from(token.uses))
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("registration token"))?;
                Ok(())
            }

            async fn list_registration_tokens(
                &self,
            ) -> Result<Vec<ostiary_core::registration::RegistrationToken>, ostiary_core::StoreError>
            {
                sqlx::query_as::<_, $crate::rows::RegistrationTokenRow>(
                    "SELECT * FROM registration_tokens ORDER BY created_at, token_id",
                )
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map($crate::rows::RegistrationTokenRow::into_token)
                .collect()
            }

            async fn delete_registration_token(
                &self,
                token_id: &str,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM registration_tokens WHERE token_id = $1")
                    .bind(token_id.to_owned())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn find_registration_token(
                &self,
                hash: &ostiary_core::secret::SecretHash,
            ) -> Result<
                Option<ostiary_core::registration::RegistrationToken>,
                ostiary_core::StoreError,
            > {
                sqlx::query_as::<_, $crate::rows::RegistrationTokenRow>(
                    "SELECT * FROM registration_tokens WHERE token_hash = $1",
                )
                .bind(hash.as_bytes().to_vec())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::RegistrationTokenRow::into_token)
                .transpose()
            }

            async fn insert_registered_client(
                &self,
                client: &ostiary_core::client::Client,
                access_token_hash: &ostiary_core::secret::SecretHash,
                spending: Option<&str>,
                now: time::OffsetDateTime,
            ) -> Result<bool, ostiary_core::StoreError> {
                let mut tx = self.begin_write().await?;
                // One guarded statement: of two registrations racing for a token's last use,
                // one counts it and the other finds nothing to update.
                if let Some(token_id) = spending {
                    let spent = sqlx::query(
                        "UPDATE registration_tokens SET uses = uses + 1 \
                         WHERE token_id = $1 AND expires_at > $2 AND uses < max_uses",
                    )
                    .bind(token_id.to_owned())
                    .bind(now.unix_timestamp())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::error::backend)?;
                    if spent.rows_affected() == 0 {
                        return Ok(false);
                    }
                }
                let row = $crate::rows::ClientRow::from_client(client);
                $crate::sql::clients::insert_client!(row)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::error::write_error("client"))?;
                sqlx::query(
                    "INSERT INTO client_registrations (client_id, access_token_hash) \
                     VALUES ($1, $2)",
                )
                .bind(client.id.as_str().to_owned())
                .bind(access_token_hash.as_bytes().to_vec())
                .execute(&mut *tx)
                .await
                .map_err($crate::error::write_error("client registration"))?;
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(true)
            }

            async fn find_registration_access_token(
                &self,
                client_id: &ostiary_core::client::ClientId,
            ) -> Result<Option<ostiary_core::secret::SecretHash>, ostiary_core::StoreError> {
                let hash: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT access_token_hash FROM client_registrations WHERE client_id = $1",
                )
                .bind(client_id.as_str().to_owned())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?;
                hash.map(|bytes| {
                    ostiary_core::secret::SecretHash::from_bytes(&bytes)
                        .ok_or(ostiary_core::StoreError::Corrupt("client registration"))
                })
                .transpose()
            }

            async fn purge_expired_registration_tokens(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM registration_tokens WHERE expires_at < $1")
                    .bind(now.unix_timestamp())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_registration_store;
