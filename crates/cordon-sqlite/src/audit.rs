//! The audit log: appended inside the transaction of the change it records, read newest
//! first with optional filters and keyset paging (`before_id`).

use crate::rows::{OrBackend, parse_role, parse_ts, ts};
use cordon_domain::audit::{AuditEntry, AuditRecord};
use cordon_store::audit_chain::{ChainHead, ChainRow};
use cordon_store::{AuditFilter, Result};
use rusqlite::Connection;
use rusqlite::types::Value;

/// Appends one entry; called inside the caller's transaction (the single writer's, so
/// entries are chained in the order they are written): the entry takes the place after
/// the chain's head, carrying the head's hash and its own
/// ([`cordon_domain::audit::chain_hash`]), and becomes the head.
pub(crate) fn insert(conn: &Connection, e: &AuditEntry) -> Result<()> {
    let (seq, prev): (i64, String) = conn
        .prepare_cached("SELECT seq, hash FROM audit_chain_head WHERE singleton = 1")
        .db()?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?;
    let hash = cordon_domain::audit::chain_hash(&prev, e);
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO audit_log (at, actor_id, actor, role, action, target_kind, target, request_id, detail, \
                                    chain_seq, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .db()?;
    stmt.execute(rusqlite::params![
        ts(e.at),
        e.actor_id,
        e.actor,
        e.role.map(|r| r.code()),
        e.action,
        e.target_kind,
        e.target,
        e.request_id,
        e.detail,
        seq + 1,
        prev,
        hash,
    ])
    .db()?;
    conn.prepare_cached("UPDATE audit_chain_head SET seq = ?1, hash = ?2 WHERE singleton = 1")
        .db()?
        .execute(rusqlite::params![seq + 1, hash])
        .db()?;
    Ok(())
}

pub(crate) fn log(conn: &Connection, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
    let mut conds: Vec<&str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut push = |cond: &'static str, v: Value| {
        params.push(v);
        conds.push(cond);
    };
    if let Some(v) = &f.actor {
        push("actor = ?", Value::Text(v.clone()));
    }
    if let Some(v) = &f.action {
        push("action = ?", Value::Text(v.clone()));
    }
    if let Some(v) = &f.target_kind {
        push("target_kind = ?", Value::Text(v.clone()));
    }
    if let Some(v) = &f.target {
        push("target = ?", Value::Text(v.clone()));
    }
    if let Some(v) = f.before_id {
        push("id < ?", Value::Integer(v));
    }
    if let Some(v) = &f.action_family {
        let (from, to) = cordon_store::action_family_range(v);
        conds.push("(action = ? OR (action >= ? AND action < ?))");
        params.extend([Value::Text(v.clone()), Value::Text(from), Value::Text(to)]);
    }
    let filter = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
    params.push(Value::Integer(i64::from(f.limit)));
    let sql = format!(
        "SELECT id, at, actor_id, actor, role, action, target_kind, target, request_id, detail \
         FROM audit_log {filter} ORDER BY id DESC LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let raw = stmt
        .query_map(rusqlite::params_from_iter(params), |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<i64>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, String>(9)?,
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raw.into_iter()
        .map(|(id, at, actor_id, actor, role, action, target_kind, target, request_id, detail)| {
            Ok(AuditRecord {
                id,
                entry: AuditEntry {
                    at: parse_ts(&at, "audit entry", &id)?,
                    actor_id,
                    actor,
                    role: parse_role(role, "audit entry", &id)?,
                    action,
                    target_kind,
                    target,
                    request_id,
                    detail,
                },
            })
        })
        .collect()
}

pub(crate) fn chain_head(conn: &Connection) -> Result<ChainHead> {
    conn.prepare_cached("SELECT seq, hash FROM audit_chain_head WHERE singleton = 1")
        .db()?
        .query_row([], |r| Ok(ChainHead { seq: r.get(0)?, hash: r.get(1)? }))
        .db()
}

pub(crate) fn chain_page(conn: &Connection, after: i64, up_to: i64, limit: u32) -> Result<Vec<ChainRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, at, actor_id, actor, role, action, target_kind, target, request_id, detail, \
                    chain_seq, prev_hash, hash \
             FROM audit_log WHERE chain_seq > ?1 AND chain_seq <= ?2 ORDER BY chain_seq LIMIT ?3",
        )
        .db()?;
    let raw = stmt
        .query_map(rusqlite::params![after, up_to, i64::from(limit)], |row| {
            Ok((
                (
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ),
                (
                    row.get::<_, String>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, String>(8)?,
                    row.get::<_, String>(9)?,
                ),
                (row.get::<_, i64>(10)?, row.get::<_, Option<String>>(11)?, row.get::<_, Option<String>>(12)?),
            ))
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    raw.into_iter()
        .map(
            |(
                (id, at, actor_id, actor, role),
                (action, target_kind, target, request_id, detail),
                (chain_seq, prev_hash, hash),
            )| {
                Ok(ChainRow {
                    record: AuditRecord {
                        id,
                        entry: AuditEntry {
                            at: parse_ts(&at, "audit entry", &id)?,
                            actor_id,
                            actor,
                            role: parse_role(role, "audit entry", &id)?,
                            action,
                            target_kind,
                            target,
                            request_id,
                            detail,
                        },
                    },
                    chain_seq,
                    prev_hash,
                    hash,
                })
            },
        )
        .collect()
}

pub(crate) fn unchained(conn: &Connection) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM audit_log WHERE chain_seq IS NULL")
        .db()?
        .query_row([], |r| r.get(0))
        .db()?;
    Ok(u64::try_from(n).unwrap_or(0))
}
