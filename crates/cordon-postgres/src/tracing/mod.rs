//! [`TracingStore`] on PostgreSQL: the two primitives, and the hook mass testing's
//! results call in their own transaction. A write is one transaction: the facts the plan
//! asks for, stage by stage, with the rows it decides on locked `FOR UPDATE`, the plan
//! (in `cordon-store`), its effects, and the confirmed contacts handed to containment's
//! queue in the same transaction.

mod facts;
mod write;

pub(crate) use facts::contact_class_of;

use crate::PgStore;
use crate::error::Db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::clock::DistrictTz;
use cordon_store::StoreError;
use cordon_store::containment::Act;
use cordon_store::containment::plan::{Outcome as ContainmentOutcome, Write as ContainmentWrite};
use cordon_store::tracing::TracingStore;
use cordon_store::tracing::facts::{Facts, Keys};
use cordon_store::tracing::plan::{self, Outcome, Write};
use std::sync::Arc;
use tokio_postgres::GenericClient;

type Result<T> = std::result::Result<T, StoreError>;

const MAX_STAGES: u32 = 8;

pub(crate) async fn apply<C: GenericClient + Sync>(tx: &C, w: &Write, act: &Act) -> Result<Outcome> {
    let mut facts = Facts::default();
    let mut stage = 0;
    while let Some(k) = plan::keys(w, stage, &facts, act) {
        facts.merge(facts::fetch(tx, &k).await?);
        stage += 1;
        if stage > MAX_STAGES {
            return Err(StoreError::Backend("a tracing plan kept asking for facts".into()));
        }
    }
    let planned = plan::plan(w, &facts, act);
    let written = write::write(tx, &planned.effects).await?;
    if !planned.effects.enqueue.is_empty() {
        let queue = planned
            .effects
            .enqueue
            .iter()
            .cloned()
            .map(|mut c| {
                c.contact_id = written.contact(c.contact_id);
                c
            })
            .collect();
        match crate::containment::apply(tx, &ContainmentWrite::Enqueue(queue), act).await? {
            ContainmentOutcome::Count(Ok(_)) => {}
            other => {
                return Err(StoreError::Backend(format!("the to-isolate queue refused tracing's contacts: {other:?}")));
            }
        }
    }
    Ok(planned.outcome.resolve(&written))
}

/// For mass testing's `record_results`, inside its transaction: the cases it just made
/// get their trajectory, candidates and tasks under the stored profile.
pub(crate) async fn trace_new_cases<C: GenericClient + Sync>(
    tx: &C,
    at: DateTime<Utc>,
    tz: &DistrictTz,
    audit: &AuditEntry,
) -> Result<u32> {
    let setting = facts::fetch(tx, &Keys { policy: true, ..Keys::default() }).await?.policy;
    let profile = plan::profile_of(setting.as_ref())?;
    let act = Act {
        at,
        tz: tz.clone(),
        user_id: audit.actor_id,
        user: audit.actor.clone(),
        profile: Arc::new(profile),
        audit: audit.clone(),
    };
    match apply(tx, &Write::TraceNew, &act).await? {
        Outcome::Count(n) => Ok(n.unwrap_or(0)),
        _ => Err(StoreError::Backend("tracing answered with the wrong outcome".into())),
    }
}

#[async_trait]
impl TracingStore for PgStore {
    async fn tracing_facts(&self, keys: &Keys) -> Result<Facts> {
        let c = self.client().await?;
        facts::fetch(&**c, keys).await
    }

    async fn tracing_write(&self, w: Write, act: Act) -> Result<Outcome> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.db()?;
        let out = apply(&*tx, &w, &act).await?;
        tx.commit().await.db()?;
        Ok(out)
    }
}
