//! Login throttling and the deployment's secrets: SQL and row mapping only. The rule is
//! [`cordon_domain::security::plan_throttle`], called inside the transaction that holds
//! the keys' rows: each key's row is made if missing, then locked `FOR UPDATE` in key
//! order, so concurrent attempts on any instance are decided one after the other.

use crate::PgStore;
use crate::error::Db;
use crate::rows::get;
use chrono::{DateTime, Utc};
use cordon_domain::security::{LoginAttempt, SecurityRules, ThrottleKind, ThrottleOp, ThrottleState, plan_throttle};
use cordon_store::Result;

impl PgStore {
    pub(crate) async fn throttle(
        &self,
        op: ThrottleOp,
        keys: &[(ThrottleKind, String)],
        now: DateTime<Utc>,
        rules: &SecurityRules,
    ) -> Result<LoginAttempt> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.db()?;
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|a, b| keys[*a].1.cmp(&keys[*b].1));
        let mut states: Vec<(ThrottleKind, Option<ThrottleState>)> = keys.iter().map(|(k, _)| (*k, None)).collect();
        for i in order {
            let key = &keys[i].1;
            // A placeholder that counts nothing (last_at far outside any window), so the
            // row exists to be locked.
            tx.execute(
                "INSERT INTO login_throttle (key, failures, last_at, next_at) \
                 VALUES ($1, 0, '-infinity', '-infinity') ON CONFLICT (key) DO NOTHING",
                &[key],
            )
            .await
            .db()?;
            let row = tx
                .query_one("SELECT failures, last_at, next_at FROM login_throttle WHERE key = $1 FOR UPDATE", &[key])
                .await
                .db()?;
            let failures: i32 = get(&row, 0)?;
            let last_at: DateTime<Utc> = get(&row, 1).unwrap_or(DateTime::<Utc>::MIN_UTC);
            let next_at: DateTime<Utc> = get(&row, 2).unwrap_or(DateTime::<Utc>::MIN_UTC);
            states[i].1 = (failures > 0).then_some(ThrottleState {
                failures: u32::try_from(failures).unwrap_or(0),
                last_at,
                next_at,
            });
        }
        let plan = plan_throttle(op, &states, now, rules);
        for ((_, key), state) in keys.iter().zip(plan.store.iter().flatten()) {
            match state {
                Some(s) => {
                    let failures = i32::try_from(s.failures).unwrap_or(i32::MAX);
                    tx.execute(
                        "UPDATE login_throttle SET failures = $2, last_at = $3, next_at = $4 WHERE key = $1",
                        &[key, &failures, &s.last_at, &s.next_at],
                    )
                    .await
                    .db()?
                }
                // Forgotten, but the row stays (as the placeholder): an attempt waiting on
                // its lock must find it when this commits.
                None => tx
                    .execute(
                        "UPDATE login_throttle SET failures = 0, last_at = '-infinity', next_at = '-infinity' \
                         WHERE key = $1",
                        &[key],
                    )
                    .await
                    .db()?,
            };
        }
        tx.commit().await.db()?;
        Ok(plan.answer)
    }

    pub(crate) async fn secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO instance_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &candidate],
        )
        .await
        .db()?;
        let row = c.query_one("SELECT value FROM instance_secrets WHERE name = $1", &[&name]).await.db()?;
        get(&row, 0)
    }
}
