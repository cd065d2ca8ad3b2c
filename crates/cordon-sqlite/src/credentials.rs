//! Bearer tokens and the changes of a user's credentials (`CredentialsStore`): SQL and
//! row mapping only; which token works and what a change does is decided in
//! `cordon_store::credentials`.

use crate::rows::{OrBackend, RawUser, USER_COLS, parse_ts, ts};
use crate::scanpath::{areas, in_read_tx};
use chrono::{DateTime, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_store::credentials::{ApiToken, BearerFacts, CredentialOutcome, CredentialPlan, NewApiToken, RevokeTokens};
use cordon_store::{Result, StoreError, label_areas};
use rusqlite::{Connection, OptionalExtension, Row, params};

const TOKEN_COLS: &str = "t.id, t.user_id, t.label, t.created_at, t.expires_at, t.last_used_at, t.revoked_at";

struct RawToken {
    id: i64,
    user_id: i64,
    name: String,
    created_at: String,
    expires_at: String,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl RawToken {
    /// Reads [`TOKEN_COLS`] starting at column `at`.
    fn from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<RawToken> {
        Ok(RawToken {
            id: row.get(at)?,
            user_id: row.get(at + 1)?,
            name: row.get(at + 2)?,
            created_at: row.get(at + 3)?,
            expires_at: row.get(at + 4)?,
            last_used_at: row.get(at + 5)?,
            revoked_at: row.get(at + 6)?,
        })
    }

    fn parse(self) -> Result<ApiToken> {
        let id = self.id;
        let opt = |t: Option<String>| t.map(|t| parse_ts(&t, "api token", &id)).transpose();
        Ok(ApiToken {
            id,
            user_id: self.user_id,
            name: self.name,
            created_at: parse_ts(&self.created_at, "api token", &id)?,
            expires_at: parse_ts(&self.expires_at, "api token", &id)?,
            last_used_at: opt(self.last_used_at)?,
            revoked_at: opt(self.revoked_at)?,
        })
    }
}

pub(crate) fn issue(conn: &Connection, t: &NewApiToken) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO api_tokens (token_hash, user_id, label, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![t.token_hash, t.user_id, t.name, ts(t.created_at), ts(t.expires_at)])
    .db()?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn list(conn: &Connection) -> Result<Vec<ApiToken>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {TOKEN_COLS} FROM api_tokens t ORDER BY t.id")).db()?;
    let raw = stmt.query_map([], |r| RawToken::from_row(r, 0)).db()?.collect::<rusqlite::Result<Vec<_>>>().db()?;
    raw.into_iter().map(RawToken::parse).collect()
}

/// The token, its user and the user's scope names, in one read transaction (every device
/// request runs this).
pub(crate) fn bearer_facts(c: &Connection, token_hash: &str) -> Result<Option<BearerFacts>> {
    in_read_tx(c, |tx| {
        let raw = tx
            .prepare_cached(&format!(
                "SELECT {USER_COLS}, {TOKEN_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
                 WHERE t.token_hash = ?1"
            ))
            .db()?
            .query_row([token_hash], |r| Ok((RawUser::from_row(r)?, RawToken::from_row(r, 9)?)))
            .optional()
            .db()?;
        let Some((user, token)) = raw else { return Ok(None) };
        let user = user.parse()?;
        let areas = areas(tx, &label_areas(&user.scope))?;
        Ok(Some(BearerFacts { token: token.parse()?, user, areas }))
    })
}

pub(crate) fn touch(conn: &Connection, token_id: i64, at: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")
        .db()?
        .execute(params![token_id, ts(at)])
        .db()?;
    Ok(())
}

pub(crate) fn write(
    conn: &Connection,
    user_id: i64,
    p: &CredentialPlan,
    audit: &AuditEntry,
) -> Result<CredentialOutcome> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")
        .db()?
        .query_row([user_id], |_| Ok(()))
        .optional()
        .db()?;
    if exists.is_none() {
        return Err(StoreError::NotFound("user"));
    }
    if let Some(disabled_at) = p.disabled_at {
        conn.prepare_cached("UPDATE users SET disabled_at = ?2 WHERE id = ?1")
            .db()?
            .execute(params![user_id, disabled_at.map(ts)])
            .db()?;
    }
    if let Some(hash) = &p.password_hash {
        conn.prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")
            .db()?
            .execute(params![user_id, hash])
            .db()?;
    }
    let mut out = CredentialOutcome::default();
    if p.end_sessions {
        let n = conn.prepare_cached("DELETE FROM sessions WHERE user_id = ?1").db()?.execute([user_id]).db()?;
        out.sessions_ended = n as u64;
    }
    let at = ts(p.at);
    let revoked = match p.revoke {
        RevokeTokens::None => 0,
        RevokeTokens::All => conn
            .prepare_cached("UPDATE api_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL")
            .db()?
            .execute(params![user_id, at])
            .db()?,
        RevokeTokens::One(id) => {
            let owner: Option<i64> = conn
                .prepare_cached("SELECT user_id FROM api_tokens WHERE id = ?1")
                .db()?
                .query_row([id], |r| r.get(0))
                .optional()
                .db()?;
            if owner != Some(user_id) {
                return Err(StoreError::NotFound("api_token"));
            }
            conn.prepare_cached("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
                .db()?
                .execute(params![id, at])
                .db()?
        }
    };
    out.tokens_revoked = revoked as u64;
    crate::audit::insert(conn, audit)?;
    Ok(out)
}
