//! Bearer tokens and the changes of a user's credentials (`CredentialsStore`): SQL and
//! row mapping only; which token works and what a change does is decided in
//! `cordon_store::credentials`.

use crate::PgStore;
use crate::error::{Db, corrupt};
use crate::rows::{self, USER_COLUMNS_U, get};
use crate::store::insert_audit;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::area::{Area, AreaCode};
use cordon_domain::audit::AuditEntry;
use cordon_store::credentials::{
    ApiToken, BearerFacts, CredentialOutcome, CredentialPlan, CredentialsStore, NewApiToken, RevokeTokens,
};
use cordon_store::{Result, StoreError};
use tokio_postgres::Row;

const TOKEN_COLUMNS: &str = "t.id, t.user_id, t.label, t.created_at, t.expires_at, t.last_used_at, t.revoked_at";

/// Reads the columns of [`TOKEN_COLUMNS`] starting at `at`.
fn token(row: &Row, at: usize) -> Result<ApiToken> {
    Ok(ApiToken {
        id: get(row, at)?,
        user_id: get(row, at + 1)?,
        name: get(row, at + 2)?,
        created_at: get(row, at + 3)?,
        expires_at: get(row, at + 4)?,
        last_used_at: get(row, at + 5)?,
        revoked_at: get(row, at + 6)?,
    })
}

#[async_trait]
impl CredentialsStore for PgStore {
    async fn issue_api_token(&self, t: &NewApiToken) -> Result<i64> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "INSERT INTO api_tokens (token_hash, user_id, label, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&t.token_hash, &t.user_id, &t.name, &t.created_at, &t.expires_at],
            )
            .await
            .db()?;
        get(&row, 0)
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let c = self.client().await?;
        let rows = c.query(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens t ORDER BY t.id"), &[]).await.db()?;
        rows.iter().map(|r| token(r, 0)).collect()
    }

    /// One statement: the token, its user, and the names of the areas labelling the
    /// user's scope (as `label_areas` names them: the prefixes of 9, 12, 15, 18 and 20
    /// characters, shortest first; none for a grid scope).
    async fn bearer_facts(&self, token_hash: &str) -> Result<Option<BearerFacts>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS_U}, {TOKEN_COLUMNS}, \
                        coalesce((SELECT array_agg(a.code ORDER BY length(a.code)) FROM areas a \
                                  WHERE u.scope_kind = 'area' AND a.code IN (substr(u.scope_ref, 1, 9), \
                                        substr(u.scope_ref, 1, 12), substr(u.scope_ref, 1, 15), \
                                        substr(u.scope_ref, 1, 18), substr(u.scope_ref, 1, 20))), '{{}}'), \
                        coalesce((SELECT array_agg(a.name ORDER BY length(a.code)) FROM areas a \
                                  WHERE u.scope_kind = 'area' AND a.code IN (substr(u.scope_ref, 1, 9), \
                                        substr(u.scope_ref, 1, 12), substr(u.scope_ref, 1, 15), \
                                        substr(u.scope_ref, 1, 18), substr(u.scope_ref, 1, 20))), '{{}}') \
                 FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
            ))
            .await
            .db()?;
        let Some(row) = c.query_opt(&stmt, &[&token_hash]).await.db()? else { return Ok(None) };
        let user = rows::user(&row)?;
        let token = token(&row, 9)?;
        let codes: Vec<String> = get(&row, 16)?;
        let names: Vec<String> = get(&row, 17)?;
        let mut areas = Vec::with_capacity(codes.len());
        for (code, name) in codes.into_iter().zip(names) {
            let code = AreaCode::parse(&code).map_err(|_| corrupt("area", user.id, "code"))?;
            areas.push(Area { code, name });
        }
        Ok(Some(BearerFacts { token, user, areas }))
    }

    async fn touch_api_token(&self, token_id: i64, at: DateTime<Utc>) -> Result<()> {
        let c = self.client().await?;
        let stmt = c.prepare_cached("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1").await.db()?;
        c.execute(&stmt, &[&token_id, &at]).await.db()?;
        Ok(())
    }

    async fn write_credentials(
        &self,
        user_id: i64,
        p: &CredentialPlan,
        audit: &AuditEntry,
    ) -> Result<CredentialOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        if tx.query_opt("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user_id]).await.db()?.is_none() {
            return Err(StoreError::NotFound("user"));
        }
        if let Some(disabled_at) = p.disabled_at {
            tx.execute("UPDATE users SET disabled_at = $2 WHERE id = $1", &[&user_id, &disabled_at]).await.db()?;
        }
        if let Some(hash) = &p.password_hash {
            tx.execute("UPDATE users SET password_hash = $2 WHERE id = $1", &[&user_id, hash]).await.db()?;
        }
        let mut out = CredentialOutcome::default();
        if p.end_sessions {
            out.sessions_ended = tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id]).await.db()?;
        }
        out.tokens_revoked = match p.revoke {
            RevokeTokens::None => 0,
            RevokeTokens::All => tx
                .execute(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    &[&user_id, &p.at],
                )
                .await
                .db()?,
            RevokeTokens::One(id) => {
                let owner =
                    tx.query_opt("SELECT user_id FROM api_tokens WHERE id = $1 FOR UPDATE", &[&id]).await.db()?;
                let owner: Option<i64> = owner.map(|r| get(&r, 0)).transpose()?;
                if owner != Some(user_id) {
                    return Err(StoreError::NotFound("api_token"));
                }
                tx.execute("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &p.at])
                    .await
                    .db()?
            }
        };
        insert_audit(&*tx, std::slice::from_ref(audit)).await?;
        tx.commit().await.db()?;
        Ok(out)
    }
}
