//! Login throttling and the deployment's secrets: SQL and row mapping only. The rule is
//! [`cordon_domain::security::plan_throttle`], called inside the writer's transaction,
//! so attempts on the same key are decided one after the other.

use crate::rows::{OrBackend, parse_ts, ts};
use chrono::{DateTime, Utc};
use cordon_domain::security::{LoginAttempt, SecurityRules, ThrottleKind, ThrottleOp, ThrottleState, plan_throttle};
use cordon_store::Result;
use rusqlite::{OptionalExtension, Transaction, params};

pub(crate) fn login_throttle(
    tx: &Transaction<'_>,
    op: ThrottleOp,
    keys: &[(ThrottleKind, String)],
    now: DateTime<Utc>,
    rules: &SecurityRules,
) -> Result<LoginAttempt> {
    let mut states = Vec::with_capacity(keys.len());
    for (kind, key) in keys {
        let row: Option<(i64, String, String)> = tx
            .prepare_cached("SELECT failures, last_at, next_at FROM login_throttle WHERE key = ?1")
            .db()?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .db()?;
        let state = match row {
            Some((failures, last_at, next_at)) => Some(ThrottleState {
                failures: u32::try_from(failures).unwrap_or(u32::MAX),
                last_at: parse_ts(&last_at, "login_throttle", key)?,
                next_at: parse_ts(&next_at, "login_throttle", key)?,
            }),
            None => None,
        };
        states.push((*kind, state));
    }
    let plan = plan_throttle(op, &states, now, rules);
    for ((_, key), state) in keys.iter().zip(plan.store.iter().flatten()) {
        match state {
            Some(s) => tx
                .prepare_cached(
                    "INSERT INTO login_throttle (key, failures, last_at, next_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at, \
                     next_at = excluded.next_at",
                )
                .db()?
                .execute(params![key, s.failures, ts(s.last_at), ts(s.next_at)])
                .db()?,
            None => tx.prepare_cached("DELETE FROM login_throttle WHERE key = ?1").db()?.execute([key]).db()?,
        };
    }
    Ok(plan.answer)
}

pub(crate) fn instance_secret(tx: &Transaction<'_>, name: &str, candidate: &[u8]) -> Result<Vec<u8>> {
    tx.prepare_cached("INSERT OR IGNORE INTO instance_secrets (name, value) VALUES (?1, ?2)")
        .db()?
        .execute(params![name, candidate])
        .db()?;
    tx.prepare_cached("SELECT value FROM instance_secrets WHERE name = ?1").db()?.query_row([name], |r| r.get(0)).db()
}
