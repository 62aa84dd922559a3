//! `DocumentClientStore` for both backends.

macro_rules! impl_document_client_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::DocumentClientStore for $store {
            async fn insert_document_client(
                &self,
                client: &ostiary_core::client::Client,
                fetched_at: time::OffsetDateTime,
                expires_at: time::OffsetDateTime,
            ) -> Result<(), ostiary_core::StoreError> {
                let mut tx = self.begin_write().await?;
                let row = $crate::rows::ClientRow::from_client(client);
                $crate::sql::clients::insert_client!(row)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::error::write_error("client"))?;
                sqlx::query(
                    "INSERT INTO client_metadata_documents (client_id, fetched_at, expires_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(client.id.as_str().to_owned())
                .bind(fetched_at.unix_timestamp())
                .bind(expires_at.unix_timestamp())
                .execute(&mut *tx)
                .await
                .map_err($crate::error::write_error("client metadata document"))?;
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(())
            }

            async fn document_expires_at(
                &self,
                id: &ostiary_core::client::ClientId,
            ) -> Result<Option<time::OffsetDateTime>, ostiary_core::StoreError> {
                let at: Option<i64> = sqlx::query_scalar(
                    "SELECT expires_at FROM client_metadata_documents WHERE client_id = $1",
                )
                .bind(id.as_str().to_owned())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?;
                at.map(|at| {
                    time::OffsetDateTime::from_unix_timestamp(at)
                        .map_err(|_| ostiary_core::StoreError::Corrupt("client metadata document"))
                })
                .transpose()
            }

            async fn record_document_fetch(
                &self,
                id: &ostiary_core::client::ClientId,
                fetched_at: time::OffsetDateTime,
                expires_at: time::OffsetDateTime,
            ) -> Result<bool, ostiary_core::StoreError> {
                // One statement whether a row is there or not; nothing when the client is
                // gone (the WHERE also keeps SQLite from reading ON CONFLICT as a join).
                let done = sqlx::query(
                    "INSERT INTO client_metadata_documents (client_id, fetched_at, expires_at) \
                     SELECT client_id, $2, $3 FROM clients WHERE client_id = $1 \
                     ON CONFLICT (client_id) DO UPDATE \
                     SET fetched_at = excluded.fetched_at, expires_at = excluded.expires_at",
                )
                .bind(id.as_str().to_owned())
                .bind(fetched_at.unix_timestamp())
                .bind(expires_at.unix_timestamp())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use impl_document_client_store;
