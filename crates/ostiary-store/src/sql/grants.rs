//! `GrantStore` for both backends: codes, grants, refresh tokens and consents.
//!
//! Every method that writes more than one statement runs in `begin_write()` (per backend:
//! `BEGIN IMMEDIATE` on SQLite, an ordinary transaction on PostgreSQL), except the writes of
//! the user flows, a code's insertion, its redemption and a refresh rotation: each is written
//! in a batch with the writes of its kind queued beside it (`crate::batches`), one transaction
//! in one round trip to the database. Single use of codes and refresh tokens rests on
//! compare-and-set `UPDATE ... WHERE <not yet used>`: whichever write changes the row wins,
//! every other one sees zero rows changed and writes nothing.

/// Inside the transaction `$tx`, inserts a new grant (a `&Grant`) and, when `$refresh` (an
/// `Option<&RefreshToken>`) has one, its first refresh token; returns early from the
/// enclosing function on a database error.
macro_rules! insert_grant {
    ($tx:expr, $grant:expr, $refresh:expr) => {{
        let row = $crate::rows::GrantRow::from_grant($grant);
        sqlx::query(
            "INSERT INTO grants (grant_id, client_id, user_id, sid, offline, scopes, \
             audiences, auth_time, created_at, access_jti, access_expires_at, revoked_at, \
             dpop_jkt, mfa) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(row.grant_id)
        .bind(row.client_id)
        .bind(row.user_id)
        .bind(row.sid)
        .bind(row.offline)
        .bind(row.scopes)
        .bind(row.audiences)
        .bind(row.auth_time)
        .bind(row.created_at)
        .bind(row.access_jti)
        .bind(row.access_expires_at)
        .bind(row.revoked_at)
        .bind(row.dpop_jkt)
        .bind(row.mfa)
        .execute(&mut *$tx)
        .await
        .map_err($crate::error::write_error("grant"))?;
        if let Some(token) = $refresh {
            $crate::sql::grants::insert_refresh_token!($tx, token);
        }
    }};
}

/// Inserts a refresh token as first written (not rotated) in the transaction `$tx`.
macro_rules! insert_refresh_token {
    ($tx:expr, $token:expr) => {{
        let row = $crate::rows::RefreshTokenRow::from_token($token);
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, grant_id, issued_at, expires_at, access_jti, \
             access_expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.token_hash)
        .bind(row.grant_id)
        .bind(row.issued_at)
        .bind(row.expires_at)
        .bind(row.access_jti)
        .bind(row.access_expires_at)
        .execute(&mut *$tx)
        .await
        .map_err($crate::error::write_error("refresh token"))?;
    }};
}

/// Codes, redemptions and refresh rotations go through the store's `batches`
/// (`crate::batches`).
macro_rules! impl_grant_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ostiary_core::GrantStore for $store {
            async fn insert_code(
                &self,
                code: &ostiary_core::grant::AuthorizationCode,
            ) -> Result<bool, ostiary_core::StoreError> {
                // Written in a batch with whatever codes wait beside it, each only while its
                // session is stored.
                self.batches
                    .codes
                    .submit($crate::rows::CodeRow::from_code(code))
                    .await
            }

            async fn find_presented_code(
                &self,
                code_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<Option<ostiary_core::grant::PresentedCode>, ostiary_core::StoreError> {
                self.presented_code_row(code_hash)
                    .await?
                    .map($crate::rows::PresentedCodeRow::into_presented)
                    .transpose()
            }

            async fn redeem_code(
                &self,
                code_hash: &ostiary_core::secret::SecretHash,
                at: time::OffsetDateTime,
                grant: &ostiary_core::grant::Grant,
                refresh: Option<&ostiary_core::grant::RefreshToken>,
            ) -> Result<bool, ostiary_core::StoreError> {
                // Written in a batch with whatever redemptions wait beside it, taken whole
                // or not at all, changing rows only when this redemption consumes the code.
                let redemption = $crate::batches::Redemption {
                    code_hash: code_hash.as_bytes().to_vec(),
                    at: at.unix_timestamp(),
                    grant: $crate::rows::GrantRow::from_grant(grant),
                    refresh: refresh.map($crate::rows::RefreshTokenRow::from_token),
                };
                // False: lost the race, a replay, or an unknown code; nothing was written.
                self.batches.redemptions.submit(redemption).await
            }

            async fn has_live_grant(
                &self,
                client_id: &ostiary_core::client::ClientId,
                user_id: &ostiary_core::user::UserId,
                sid: &str,
            ) -> Result<bool, ostiary_core::StoreError> {
                let found: Option<String> = sqlx::query_scalar(
                    "SELECT grant_id FROM grants WHERE client_id = $1 AND user_id = $2 \
                     AND sid = $3 AND revoked_at IS NULL LIMIT 1",
                )
                .bind(client_id.as_str().to_owned())
                .bind(user_id.to_string())
                .bind(sid.to_owned())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(found.is_some())
            }

            async fn find_grant(
                &self,
                grant_id: &str,
            ) -> Result<Option<ostiary_core::grant::Grant>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::GrantRow>(
                    "SELECT * FROM grants WHERE grant_id = $1",
                )
                .bind(grant_id.to_owned())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::GrantRow::into_grant)
                .transpose()
            }

            async fn bind_grant_key(
                &self,
                grant_id: &str,
                jkt: &str,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done = sqlx::query(
                    "UPDATE grants SET dpop_jkt = $1 WHERE grant_id = $2 AND dpop_jkt IS NULL",
                )
                .bind(jkt.to_owned())
                .bind(grant_id.to_owned())
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::backend)?;
                Ok(done.rows_affected() == 1)
            }

            async fn find_refresh_family(
                &self,
                token_hash: &ostiary_core::secret::SecretHash,
            ) -> Result<Option<ostiary_core::grant::RefreshFamily>, ostiary_core::StoreError> {
                self.refresh_family_row(token_hash)
                    .await?
                    .map($crate::rows::RefreshFamilyRow::into_family)
                    .transpose()
            }

            async fn rotate_refresh_token(
                &self,
                old: &ostiary_core::secret::SecretHash,
                at: time::OffsetDateTime,
                answer: &[u8],
                new: &ostiary_core::grant::RefreshToken,
            ) -> Result<bool, ostiary_core::StoreError> {
                // Written in a batch with whatever rotations wait beside it, taken whole or
                // not at all, changing rows only when this rotation wins.
                let rotation = $crate::batches::Rotation {
                    old: old.as_bytes().to_vec(),
                    at: at.unix_timestamp(),
                    answer: answer.to_vec(),
                    new: $crate::rows::RefreshTokenRow::from_token(new),
                };
                self.batches.rotations.submit(rotation).await
            }

            async fn revoke_grant(
                &self,
                grant_id: &str,
                at: time::OffsetDateTime,
                reason: ostiary_core::grant::RevocationReason,
            ) -> Result<bool, ostiary_core::StoreError> {
                let mut tx = self.begin_write().await?;
                let revoked = $crate::sql::revoke::revoke_grants!(
                    tx,
                    at,
                    reason,
                    "g.grant_id = $2",
                    grant_id.to_owned()
                );
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(revoked > 0)
            }

            async fn revoke_session_grants(
                &self,
                sid: &str,
                at: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                // Offline grants (offline_access) outlive the login session by design. Codes
                // and device approvals the session has not redeemed yet die with it: redeemed
                // later, they would create a grant bound to a session that no longer exists.
                let mut tx = self.begin_write().await?;
                $crate::sql::revoke::void_unredeemed!(tx, "sid", sid.to_owned());
                let revoked = $crate::sql::revoke::revoke_grants!(
                    tx,
                    at,
                    ostiary_core::grant::RevocationReason::Logout,
                    "g.sid = $2 AND g.offline = FALSE",
                    sid.to_owned()
                );
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(revoked)
            }

            async fn revoke_user_grants(
                &self,
                user_id: &ostiary_core::user::UserId,
                client_id: Option<&ostiary_core::client::ClientId>,
                at: time::OffsetDateTime,
                reason: ostiary_core::grant::RevocationReason,
            ) -> Result<u64, ostiary_core::StoreError> {
                let mut tx = self.begin_write().await?;
                // Two statements rather than `($3 IS NULL OR ...)`, so that each keeps a plan
                // that uses the (user_id, client_id) index.
                let revoked = match client_id {
                    None => $crate::sql::revoke::revoke_grants!(
                        tx,
                        at,
                        reason,
                        "g.user_id = $2",
                        user_id.to_string()
                    ),
                    Some(client_id) => $crate::sql::revoke::revoke_grants!(
                        tx,
                        at,
                        reason,
                        "g.user_id = $2 AND g.client_id = $3",
                        user_id.to_string(),
                        client_id.as_str().to_owned()
                    ),
                };
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(revoked)
            }

            async fn end_user_access(
                &self,
                user_id: &ostiary_core::user::UserId,
                at: time::OffsetDateTime,
                reason: ostiary_core::grant::RevocationReason,
            ) -> Result<u64, ostiary_core::StoreError> {
                let mut tx = self.begin_write().await?;
                $crate::sql::revoke::delete_in_key_order!(
                    tx,
                    "sessions",
                    "sid",
                    ["user_id = $1"],
                    user_id.to_string()
                );
                $crate::sql::revoke::void_unredeemed!(tx, "user_id", user_id.to_string());
                let revoked = $crate::sql::revoke::revoke_grants!(
                    tx,
                    at,
                    reason,
                    "g.user_id = $2",
                    user_id.to_string()
                );
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(revoked)
            }

            async fn revoke_everything(
                &self,
                at: time::OffsetDateTime,
            ) -> Result<ostiary_core::grant::RevokedEverything, ostiary_core::StoreError> {
                let mut tx = self.begin_write().await?;
                let sessions =
                    $crate::sql::revoke::delete_in_key_order!(tx, "sessions", "sid", ["TRUE"]);
                // Codes before grants: a redemption in flight either finished first (its code
                // row lock makes this wait, and its grant is then revoked below) or finds its
                // code gone and issues nothing.
                let mut codes = $crate::sql::revoke::delete_in_key_order!(
                    tx,
                    "authorization_codes",
                    "code_hash",
                    ["consumed_at IS NULL"]
                );
                codes += sqlx::query(
                    "DELETE FROM device_authorizations WHERE status IN ('pending', 'approved')",
                )
                .execute(&mut *tx)
                .await
                .map_err($crate::error::backend)?
                .rows_affected();
                let reason = ostiary_core::grant::RevocationReason::RevokeAll;
                let grants = $crate::sql::revoke::revoke_grants!(tx, at, reason, "TRUE");
                // Every access token issued until now, including those of client_credentials
                // that no row names: one cut-off, never moved back.
                sqlx::query(
                    "INSERT INTO access_token_cutoff (id, issued_before) VALUES (1, $1) \
                     ON CONFLICT (id) DO UPDATE SET issued_before = excluded.issued_before \
                     WHERE access_token_cutoff.issued_before < excluded.issued_before",
                )
                .bind(at.unix_timestamp())
                .execute(&mut *tx)
                .await
                .map_err($crate::error::backend)?;
                $crate::sql::revoke::count_revocations!(tx, reason, 1u64);
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(ostiary_core::grant::RevokedEverything {
                    sessions,
                    codes,
                    grants,
                })
            }

            async fn purge_expired_grants(
                &self,
                before: time::OffsetDateTime,
            ) -> Result<u64, ostiary_core::StoreError> {
                let before = before.unix_timestamp();
                let mut tx = self.begin_write().await?;
                let mut purged = $crate::sql::revoke::delete_in_key_order!(
                    tx,
                    "authorization_codes",
                    "code_hash",
                    ["expires_at < $1"],
                    before
                );
                for statement in [
                    "DELETE FROM device_authorizations WHERE expires_at < $1",
                    "DELETE FROM refresh_tokens WHERE expires_at < $1",
                    // A grant goes only when nothing can refer to it any more: no code whose
                    // replay must find it, no refresh token, no access token still valid.
                    "DELETE FROM grants WHERE access_expires_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM authorization_codes AS c \
                     WHERE c.grant_id = grants.grant_id) \
                     AND NOT EXISTS (SELECT 1 FROM refresh_tokens AS r \
                     WHERE r.grant_id = grants.grant_id)",
                ] {
                    purged += sqlx::query(statement)
                        .bind(before)
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::error::backend)?
                        .rows_affected();
                }
                tx.commit().await.map_err($crate::error::backend)?;
                Ok(purged)
            }

            async fn find_consent(
                &self,
                user_id: &ostiary_core::user::UserId,
                client_id: &ostiary_core::client::ClientId,
            ) -> Result<Option<ostiary_core::grant::Consent>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::ConsentRow>(
                    "SELECT * FROM consents WHERE user_id = $1 AND client_id = $2",
                )
                .bind(user_id.to_string())
                .bind(client_id.as_str().to_owned())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .map($crate::rows::ConsentRow::into_consent)
                .transpose()
            }

            async fn save_consent(
                &self,
                consent: &ostiary_core::grant::Consent,
            ) -> Result<(), ostiary_core::StoreError> {
                let row = $crate::rows::ConsentRow::from_consent(consent);
                sqlx::query(
                    "INSERT INTO consents (user_id, client_id, scopes, granted_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id) \
                     DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
                )
                .bind(row.user_id)
                .bind(row.client_id)
                .bind(row.scopes)
                .bind(row.granted_at)
                .execute(&mut *self.writer().await?)
                .await
                .map_err($crate::error::write_error("consent"))?;
                Ok(())
            }

            async fn delete_consent(
                &self,
                user_id: &ostiary_core::user::UserId,
                client_id: &ostiary_core::client::ClientId,
            ) -> Result<bool, ostiary_core::StoreError> {
                let done =
                    sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                        .bind(user_id.to_string())
                        .bind(client_id.as_str().to_owned())
                        .execute(&mut *self.writer().await?)
                        .await
                        .map_err($crate::error::backend)?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_consents(
                &self,
                user_id: &ostiary_core::user::UserId,
            ) -> Result<Vec<ostiary_core::grant::Consent>, ostiary_core::StoreError> {
                sqlx::query_as::<_, $crate::rows::ConsentRow>(
                    "SELECT * FROM consents WHERE user_id = $1 ORDER BY client_id",
                )
                .bind(user_id.to_string())
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err($crate::error::backend)?
                .into_iter()
                .map($crate::rows::ConsentRow::into_consent)
                .collect()
            }
        }
    };
}

pub(crate) use impl_grant_store;
pub(crate) use {insert_grant, insert_refresh_token};
