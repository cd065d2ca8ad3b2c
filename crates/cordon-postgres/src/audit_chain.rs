//! Reading the audit chain (`AuditChainStore`). The links are made at commit by the
//! `audit_chain_link` trigger (migration 0030), so every writer — each instance, each
//! transaction — chains its entries without knowing it.

use crate::PgStore;
use crate::error::Db;
use crate::rows::{self, AUDIT_COLUMNS, get};
use async_trait::async_trait;
use cordon_store::Result;
use cordon_store::audit_chain::{AuditChainStore, ChainHead, ChainRow};

#[async_trait]
impl AuditChainStore for PgStore {
    async fn audit_chain_head(&self) -> Result<ChainHead> {
        let c = self.client().await?;
        let row = c.query_one("SELECT seq, hash FROM audit_chain_head WHERE singleton", &[]).await.db()?;
        Ok(ChainHead { seq: get(&row, 0)?, hash: get(&row, 1)? })
    }

    async fn audit_chain_page(&self, after: i64, up_to: i64, limit: u32) -> Result<Vec<ChainRow>> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {AUDIT_COLUMNS}, chain_seq, prev_hash, hash FROM audit_log \
                     WHERE chain_seq > $1 AND chain_seq <= $2 ORDER BY chain_seq LIMIT $3"
                ),
                &[&after, &up_to, &i64::from(limit)],
            )
            .await
            .db()?;
        rows.iter()
            .map(|r| {
                Ok(ChainRow {
                    record: rows::audit_record(r)?,
                    chain_seq: get(r, 10)?,
                    prev_hash: get(r, 11)?,
                    hash: get(r, 12)?,
                })
            })
            .collect()
    }

    async fn audit_unchained(&self) -> Result<u64> {
        let c = self.client().await?;
        let row = c.query_one("SELECT count(*) FROM audit_log WHERE chain_seq IS NULL", &[]).await.db()?;
        let n: i64 = get(&row, 0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
