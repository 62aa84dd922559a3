//! `KeyStore` and `TokenStore` for both backends.

macro_rules! impl_key_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::KeyStore for $store {
            async fn list_signing_keys(
                &self,
            ) -> Result<Vec<ostiary_core::keys::StoredKey>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::KeyRow>(
                    "SELECT * FROM signing_keys ORDER BY created_at, kid",
                )
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map($crate::rows::KeyRow::into_key)
                .collect()
            }

            async fn activate_signing_key(
                &self,
                key: &ostiary_core::keys::StoredKey,
                replacing: Option<&str>,
                publish_until: time::OffsetDateTime,
            ) -> Result<(), ostiary_core::StoreError> {
                let row = $crate::rows::KeyRow::from_key(key)?;
                let mut tx = self.begin_write().await?;
                if let Some(old) = replacing {
                    // Compare-and-set: only the key this caller saw as active is retired.
                    let done = sqlx::query(
                        "UPDATE signing_keys SET state = 'retired', retired_at = $1, publish_until = $2 \
                         WHERE kid = $3 AND state = 'active'",
                    )
                    .bind(row.created_at)
                    .bind(publish_until.unix_timestamp())
                    .bind(old.to_owned())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::error::backend)?;
                    if done.rows_affected() != 1 {
                        return Err(ostiary_core::StoreError::Conflict("active signing key"));
                    }
                }
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, state, sealed_private_key, public_jwk, \
                     created_at, retired_at, publish_until, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(row.kid)
                .bind(row.alg)
                .bind(row.state)
                .bind(row.sealed_private_key)
                .bind(row.public_jwk)
                .bind(row.created_at)
                .bind(row.retired_at)
                .bind(row.publish_until)
                .bind(row.revoked_at)
                .execute(&mut *tx)
                .await
                .map_err($crate::error::write_error("active signing key"))?;
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(())
            }

            async fn revoke_signing_key(
                &self,
                kid: &str,
                at: time::OffsetDateTime,
            ) -> Result<bool, ostiary_core::StoreError> {
                // The private part is erased: a revoked key is presumed compromised.
                let done = sqlx::query(
                    "UPDATE signing_keys SET state = 'revoked', revoked_at = $1, \
                     sealed_private_key = $2, previous_sealed_private_key = $2 WHERE kid = $3",
                )
                .bind(at.unix_timestamp())
                .bind(Vec::<u8>::new())
                .bind(kid.to_owned())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn reseal_signing_key(
                &self,
                kid: &str,
                sealed: &[u8],
                resealed: &[u8],
            ) -> Result<bool, ostiary_core::StoreError> {
                // Compare-and-set on the sealed bytes: of instances re-sealing at once, one
                // writes; a key revoked meanwhile (its bytes erased) is left erased. The first
                // sealing replaced is kept until the change is finished.
                let done = sqlx::query(
                    "UPDATE signing_keys SET sealed_private_key = $1, \
                     previous_sealed_private_key = CASE WHEN previous_sealed_private_key = $4 \
                     THEN $3 ELSE previous_sealed_private_key END \
                     WHERE kid = $2 AND sealed_private_key = $3",
                )
                .bind(resealed.to_vec())
                .bind(kid.to_owned())
                .bind(sealed.to_vec())
                .bind(Vec::<u8>::new())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn finish_resealing(&self, kid: &str) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query(
                    "UPDATE signing_keys SET previous_sealed_private_key = $1 \
                     WHERE kid = $2 AND previous_sealed_private_key <> $1",
                )
                .bind(Vec::<u8>::new())
                .bind(kid.to_owned())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn erase_unpublished_private_keys(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query(
                    "UPDATE signing_keys SET sealed_private_key = $1, \
                     previous_sealed_private_key = $1 WHERE state = 'retired' \
                     AND publish_until <= $2 \
                     AND (sealed_private_key <> $1 OR previous_sealed_private_key <> $1)",
                )
                .bind(Vec::<u8>::new())
                .bind(now.unix_timestamp())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl ostiary_core::TokenStore for $store {
            async fn revoke_access_token(
                &self,
                jti: &str,
                client_id: &ostiary_core::client::ClientId,
                expires_at: time::OffsetDateTime,
            ) -> Result<(), ostiary_core::StoreError> {
                let mut tx = self.begin_write().await?;
                let inserted = sqlx::query(
                    "INSERT INTO revoked_access_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti.to_owned())
                .bind(client_id.as_str().to_owned())
                .bind(expires_at.unix_timestamp())
                .execute(&mut *tx)
                .await
                .map_err($crate::error::backend)?
                .rows_affected();
                if inserted > 0 {
                    $crate::sql::revoke::count_revocations!(
                        tx,
                        ostiary_core::grant::RevocationReason::ClientRequest,
                        inserted
                    );
                }
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(())
            }

            async fn is_access_token_revoked(
                &self,
                jti: &str,
                iat: i64,
            ) -> Result<bool, ostiary_core::StoreError> {
                let read = async {
                    let found = sqlx::query(
                        "SELECT 1 FROM revoked_access_tokens WHERE jti = $1 \
                         UNION ALL SELECT 1 FROM access_token_cutoff WHERE issued_before >= $2 \
                         LIMIT 1",
                    )
                    .bind(jti.to_owned())
                    .bind(iat)
                    .fetch_optional(&mut *self.reader().await?)
                    .await
                    .map_err($crate::error::backend)?;
                    Ok(found.is_some())
                };
                self.revocation_answer(jti, iat, read).await
            }

            async fn revocation_counts(
                &self,
            ) -> Result<Vec<(ostiary_core::grant::RevocationReason, u64)>, ostiary_core::StoreError>
            {
                let rows: Vec<(String, i64)> =
                    sqlx::query_as("SELECT reason, total FROM revocation_counts ORDER BY reason")
                        .fetch_all(&mut *self.reader().await?)
                        .await
                        .map_err($crate::error::backend)?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(reason, total)| {
                        Some((
                            ostiary_core::grant::RevocationReason::parse(&reason)?,
                            u64::try_from(total).unwrap_or(0),
                        ))
                    })
                    .collect())
            }

            async fn purge_expired_revocations(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM revoked_access_tokens WHERE expires_at < $1")
                    .bind(now.unix_timestamp())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_key_store;
