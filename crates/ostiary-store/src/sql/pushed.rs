//! `PushedRequestStore` for both backends.

macro_rules! impl_pushed_request_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::PushedRequestStore for $store {
            async fn insert_pushed_request(
                &self,
                request: &ostiary_core::authorize::PushedRequest,
            ) -> Result<(), ostiary_core::StoreError> {
                sqlx::query(
                    "INSERT INTO pushed_requests (id_hash, client_id, params, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(request.id_hash.as_bytes().to_vec())
                .bind(request.client_id.as_str().to_owned())
                .bind(&request.params)
                .bind(request.expires_at.unix_timestamp())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("pushed request"))?;
                Ok(())
            }

            async fn take_pushed_request(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
                client_id: &ostiary_core::client::ClientId,
            ) -> Result<Option<ostiary_core::authorize::PushedRequest>, ostiary_core::StoreError>
            {
                // One statement: of two requests racing with the same request_uri, one gets
                // the row and the other nothing.
                sqlx::query_as::<_, $crate::rows::PushedRequestRow>(
                    "DELETE FROM pushed_requests WHERE id_hash = $1 AND client_id = $2 \
                     RETURNING id_hash, client_id, params, expires_at",
                )
                .bind(id_hash.as_bytes().to_vec())
                .bind(client_id.as_str().to_owned())
                .fetch_optional(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::PushedRequestRow::into_pushed)
                .transpose()
            }

            async fn purge_expired_pushed_requests(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM pushed_requests WHERE expires_at < $1")
                    .bind(now.unix_timestamp())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_pushed_request_store;
