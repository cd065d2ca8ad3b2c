//! Users and browser sessions (login throttling is `throttle.rs`). Only hashes of tokens are
//! stored; password hashes are opaque PHC strings made above this layer.

use crate::rows::{OrBackend, RawUser, USER_COLS, backend, is_unique_violation, parse_ts, scope_columns, ts};
use chrono::{DateTime, Utc};
use cordon_store::{NewUser, Result, Session, StoreError, User};
use rusqlite::{Connection, OptionalExtension, params};

pub(crate) fn create_user(conn: &Connection, u: &NewUser) -> Result<User> {
    let (kind, scope_ref) = scope_columns(&u.scope);
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO users (username, display_name, role, scope_kind, scope_ref, password_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .db()?;
    let inserted = stmt.execute(params![
        u.username,
        u.display_name,
        u.role.code(),
        kind,
        scope_ref,
        u.password_hash,
        ts(u.created_at)
    ]);
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(StoreError::Conflict {
                code: "username_taken",
                message: "the username is already taken".into(),
            });
        }
        Err(e) => return Err(backend(e)),
    }
    let id = conn.last_insert_rowid();
    user(conn, id)?.ok_or_else(|| StoreError::Backend("created user vanished".into()))
}

fn one_user(conn: &Connection, sql: &str, param: &dyn rusqlite::ToSql) -> Result<Option<User>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    stmt.query_row([param], RawUser::from_row).optional().db()?.map(RawUser::parse).transpose()
}

pub(crate) fn user(conn: &Connection, id: i64) -> Result<Option<User>> {
    one_user(conn, &format!("SELECT {USER_COLS} FROM users u WHERE u.id = ?1"), &id)
}

pub(crate) fn user_by_username(conn: &Connection, username: &str) -> Result<Option<User>> {
    one_user(conn, &format!("SELECT {USER_COLS} FROM users u WHERE u.username = ?1"), &username)
}

pub(crate) fn users(conn: &Connection) -> Result<Vec<User>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users u ORDER BY u.id")).db()?;
    let raw = stmt.query_map([], RawUser::from_row).db()?.collect::<rusqlite::Result<Vec<_>>>().db()?;
    raw.into_iter().map(RawUser::parse).collect()
}

pub(crate) fn set_password(conn: &Connection, user_id: i64, hash: &str) -> Result<()> {
    let n = conn
        .prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")
        .db()?
        .execute(params![user_id, hash])
        .db()?;
    if n == 0 {
        return Err(StoreError::NotFound("user"));
    }
    Ok(())
}

pub(crate) fn create_session(conn: &Connection, s: &Session) -> Result<()> {
    // Sessions that expired before this one was made can never be used again; dropping
    // them here keeps the table as small as the number of live sessions.
    conn.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1").db()?.execute([ts(s.created_at)]).db()?;
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .db()?
    .execute(params![s.token_hash, s.user_id, s.csrf_token, ts(s.created_at), ts(s.expires_at)])
    .db()?;
    Ok(())
}

pub(crate) fn session(conn: &Connection, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions \
             WHERE token_hash = ?1 AND expires_at > ?2",
        )
        .db()?;
    let raw = stmt
        .query_row(params![token_hash, ts(now)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .optional()
        .db()?;
    raw.map(|(token_hash, user_id, csrf_token, created, expires)| {
        Ok(Session {
            token_hash,
            user_id,
            csrf_token,
            created_at: parse_ts(&created, "session of user", &user_id)?,
            expires_at: parse_ts(&expires, "session of user", &user_id)?,
        })
    })
    .transpose()
}

pub(crate) fn delete_session(conn: &Connection, token_hash: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1").db()?.execute([token_hash]).db()?;
    Ok(())
}
