//! `ClientStore` for both backends.

macro_rules! impl_client_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::ClientStore for $store {
            async fn insert_client(
                &self,
                client: &ostiary_core::client::Client,
            ) -> Result<(), ostiary_core::StoreError> {
                let row = $crate::rows::ClientRow::from_client(client);
                $crate::sql::clients::insert_client!(row)
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("client"))?;
                Ok(())
            }

            async fn update_client_settings(
                &self,
                client: &ostiary_core::client::Client,
                narrowed_at: Option<time::OffsetDateTime>,
            ) -> Result<bool, ostiary_core::StoreError> {
                let row = $crate::rows::ClientRow::from_client(client);
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE clients SET name = $2, grant_types = $3, redirect_uris = $4, \
                     scopes = $5, audiences = $6, introspect_audiences = $7, \
                     post_logout_redirect_uris = $8, skip_consent = $9, \
                     access_token_lifetime_secs = $10, id_token_alg = $11, \
                     dpop_bound_access_tokens = $12, require_pushed_authorization_requests = $13, \
                     impersonation = $14, require_mfa = $15 WHERE client_id = $1",
                )
                .bind(row.client_id)
                .bind(row.name)
                .bind(row.grant_types)
                .bind(row.redirect_uris)
                .bind(row.scopes)
                .bind(row.audiences)
                .bind(row.introspect_audiences)
                .bind(row.post_logout_redirect_uris)
                .bind(row.skip_consent)
                .bind(row.access_token_lifetime_secs)
                .bind(row.id_token_alg)
                .bind(row.dpop_bound_access_tokens)
                .bind(row.require_pushed_authorization_requests)
                .bind(row.impersonation)
                .bind(row.require_mfa)
                .execute(&mut *tx)
                .await
                .map_err($crate::error::backend)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                // In the same transaction: a narrowed client never keeps, even briefly or after
                // a failure, grants wider than its registration.
                if let Some(at) = narrowed_at {
                    let id = client.id.as_str().to_owned();
                    $crate::sql::revoke::void_unredeemed!(tx, "client_id", id.clone());
                    $crate::sql::revoke::revoke_grants!(
                        tx,
                        at,
                        ostiary_core::grant::RevocationReason::ClientNarrowed,
                        "g.client_id = $2",
                        id.clone()
                    );
                }
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(true)
            }

            async fn find_client(
                &self,
                id: &ostiary_core::client::ClientId,
            ) -> Result<Option<ostiary_core::client::Client>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::ClientRow>(
                    "SELECT * FROM clients WHERE client_id = $1",
                )
                .bind(id.as_str().to_owned())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::ClientRow::into_client)
                .transpose()
            }

            async fn list_clients(
                &self,
            ) -> Result<Vec<ostiary_core::client::Client>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::ClientRow>(
                    "SELECT * FROM clients ORDER BY client_id",
                )
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map($crate::rows::ClientRow::into_client)
                .collect()
            }

            async fn delete_client(
                &self,
                id: &ostiary_core::client::ClientId,
            ) -> Result<bool, ostiary_core::StoreError> {
                // The client's codes, grants, refresh tokens and consents go with it (ON DELETE
                // CASCADE). The access tokens its grants issued are recorded as revoked first,
                // in the same transaction, so introspection refuses them until they expire;
                // already expired ones are dropped by `purge_expired_revocations`. Its
                // unredeemed codes and device approvals go first, as in a revocation: a
                // redemption in flight finishes first (its grant is then covered) or finds its
                // code gone, and on PostgreSQL it cannot hold a code this deletion's cascade
                // waits for while waiting for the client row this deletion holds.
                let mut tx = self.begin_write().await?;
                $crate::sql::revoke::void_unredeemed!(tx, "client_id", id.as_str().to_owned());
                for statement in [
                    "INSERT INTO revoked_access_tokens (jti, client_id, expires_at) \
                     SELECT access_jti, client_id, access_expires_at FROM grants \
                     WHERE client_id = $1 ON CONFLICT (jti) DO NOTHING",
                    "INSERT INTO revoked_access_tokens (jti, client_id, expires_at) \
                     SELECT r.access_jti, g.client_id, r.access_expires_at \
                     FROM refresh_tokens AS r JOIN grants AS g ON g.grant_id = r.grant_id \
                     WHERE g.client_id = $1 ON CONFLICT (jti) DO NOTHING",
                ] {
                    sqlx::query(statement)
                        .bind(id.as_str().to_owned())
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::error::backend)?;
                }
                let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
                    .bind(id.as_str().to_owned())
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::error::backend)?;
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn update_client_secret(
                &self,
                id: &ostiary_core::client::ClientId,
                hash: &ostiary_core::secret::SecretHash,
                keep_previous_until: Option<time::OffsetDateTime>,
            ) -> Result<bool, ostiary_core::StoreError> {
                // The secret being replaced becomes the previous one (with its expiry) in the
                // same statement, or no previous secret is kept at all. Clients without a
                // secret method are left alone (the schema's CHECK would refuse a secret).
                let done = sqlx::query(
                    "UPDATE clients SET \
                     previous_secret_hash = CASE WHEN $3 THEN secret_hash ELSE NULL END, \
                     previous_secret_expires_at = $4, secret_hash = $1 \
                     WHERE client_id = $2 \
                     AND token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post')",
                )
                .bind(hash.as_bytes().to_vec())
                .bind(id.as_str().to_owned())
                .bind(keep_previous_until.is_some())
                .bind(keep_previous_until.map(time::OffsetDateTime::unix_timestamp))
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use impl_client_store;

/// The statement storing a new client, bound to its row (`ClientRow`): shared by operator
/// registration and self-registration, which runs it inside a transaction.
macro_rules! insert_client {
    ($row:expr) => {{
        let row = $row;
        sqlx::query(
            "INSERT INTO clients (client_id, name, secret_hash, token_endpoint_auth_method, \
             grant_types, redirect_uris, scopes, audiences, introspect_audiences, \
             post_logout_redirect_uris, skip_consent, access_token_lifetime_secs, \
             id_token_alg, created_at, jwks, jwks_uri, dpop_bound_access_tokens, \
             require_pushed_authorization_requests, previous_secret_hash, \
             previous_secret_expires_at, impersonation, require_mfa) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22)",
        )
        .bind(row.client_id)
        .bind(row.name)
        .bind(row.secret_hash)
        .bind(row.token_endpoint_auth_method)
        .bind(row.grant_types)
        .bind(row.redirect_uris)
        .bind(row.scopes)
        .bind(row.audiences)
        .bind(row.introspect_audiences)
        .bind(row.post_logout_redirect_uris)
        .bind(row.skip_consent)
        .bind(row.access_token_lifetime_secs)
        .bind(row.id_token_alg)
        .bind(row.created_at)
        .bind(row.jwks)
        .bind(row.jwks_uri)
        .bind(row.dpop_bound_access_tokens)
        .bind(row.require_pushed_authorization_requests)
        .bind(row.previous_secret_hash)
        .bind(row.previous_secret_expires_at)
        .bind(row.impersonation)
        .bind(row.require_mfa)
    }};
}

pub(crate) use insert_client;
