//! `InteractionStore` for both backends.

macro_rules! impl_interaction_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::InteractionStore for $store {
            async fn insert_interaction(
                &self,
                interaction: &ostiary_core::interaction::StoredInteraction,
            ) -> Result<(), ostiary_core::StoreError> {
                sqlx::query(
                    "INSERT INTO interactions (id_hash, binding_hash, state, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(interaction.id_hash.as_bytes().to_vec())
                .bind(interaction.binding_hash.as_bytes().to_vec())
                .bind(&interaction.state)
                .bind(interaction.expires_at.unix_timestamp())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("interaction"))?;
                Ok(())
            }

            async fn find_interaction(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<
                Option<ostiary_core::interaction::StoredInteraction>,
                ostiary_core::StoreError,
            > {
                sqlx::query_as::<_, $crate::rows::InteractionRow>(
                    "SELECT * FROM interactions WHERE id_hash = $1",
                )
                .bind(id_hash.as_bytes().to_vec())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::InteractionRow::into_interaction)
                .transpose()
            }

            async fn update_interaction(
                &self,
                interaction: &ostiary_core::interaction::StoredInteraction,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query(
                    "UPDATE interactions SET state = $1, expires_at = $2 WHERE id_hash = $3",
                )
                .bind(&interaction.state)
                .bind(interaction.expires_at.unix_timestamp())
                .bind(interaction.id_hash.as_bytes().to_vec())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_interaction(
                &self,
                id_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM interactions WHERE id_hash = $1")
                    .bind(id_hash.as_bytes().to_vec())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn purge_expired_interactions(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let done = sqlx::query("DELETE FROM interactions WHERE expires_at < $1")
                    .bind(now.unix_timestamp())
                    .execute(&mut *self.writer().await?)
                    .await
                    .map_err($crate::error::backend)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use impl_interaction_store;
