//! The tamper-evident audit log: every entry carries the hash of the entry before it in
//! the chain ([`cordon_domain::audit::chain_hash`]), computed where audit rows are
//! written, in the transaction that writes them; the chain's head (last place and hash)
//! is one row, so a cut-off tail shows too. [`AuditChainStore::verify_audit_chain`]
//! walks the chain and names the first broken link.
//!
//! What it proves: an entry edited, deleted or inserted in the database after the fact
//! breaks the chain at that entry. What it cannot: someone who rewrites every later
//! entry's hash and the head as well — keep the head's hash that `cordon audit verify`
//! prints somewhere else (a daily report) to anchor it.

use crate::Result;
use async_trait::async_trait;
use cordon_domain::audit::{AuditRecord, GENESIS, chain_hash};
use serde::Serialize;

/// A stored entry with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRow {
    pub record: AuditRecord,
    pub chain_seq: i64,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

/// The chain's last place and its hash (place 0 and [`GENESIS`] while empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// How a link is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Break {
    /// The entry at this place is missing (deleted, or its place changed).
    Missing,
    /// The entry does not carry the previous entry's hash.
    PrevMismatch,
    /// The entry's fields do not hash to its hash (edited).
    HashMismatch,
    /// The head names a hash that is not the last entry's (the tail was replaced).
    HeadMismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// The place in the chain where it breaks.
    pub chain_seq: i64,
    /// The entry found there, if any.
    pub id: Option<i64>,
    pub reason: Break,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Entries whose link was checked.
    pub checked: u64,
    /// Entries outside the chain (written before it began).
    pub unchained: u64,
    pub head: ChainHead,
    /// The first broken link, or `None` when the whole chain holds.
    pub broken: Option<BrokenLink>,
}

/// Checks links one after the other, in chain order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: i64,
    prev: String,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { next_seq: 1, prev: GENESIS.to_string(), checked: 0 }
    }
}

impl ChainVerifier {
    /// The next row of the chain (rows come in increasing `chain_seq`).
    pub fn check(&mut self, row: &ChainRow) -> Result<(), BrokenLink> {
        let at = |reason| BrokenLink { chain_seq: self.next_seq, id: Some(row.record.id), reason };
        if row.chain_seq != self.next_seq {
            return Err(BrokenLink { chain_seq: self.next_seq, id: None, reason: Break::Missing });
        }
        if row.prev_hash.as_deref() != Some(self.prev.as_str()) {
            return Err(at(Break::PrevMismatch));
        }
        let expected = chain_hash(&self.prev, &row.record.entry);
        if row.hash.as_deref() != Some(expected.as_str()) {
            return Err(at(Break::HashMismatch));
        }
        self.prev = expected;
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// After the last row up to the head: the head must be the last link.
    pub fn finish(&self, head: &ChainHead) -> Result<(), BrokenLink> {
        if self.next_seq <= head.seq {
            return Err(BrokenLink { chain_seq: self.next_seq, id: None, reason: Break::Missing });
        }
        if head.hash != self.prev {
            return Err(BrokenLink { chain_seq: head.seq, id: None, reason: Break::HeadMismatch });
        }
        Ok(())
    }
}

/// Rows per read while verifying.
const PAGE: u32 = 5_000;

#[async_trait]
pub trait AuditChainStore: Send + Sync + 'static {
    async fn audit_chain_head(&self) -> Result<ChainHead>;
    /// Chained entries with `chain_seq` in `(after, up_to]`, in chain order, at most `limit`.
    async fn audit_chain_page(&self, after: i64, up_to: i64, limit: u32) -> Result<Vec<ChainRow>>;
    /// How many entries have no place in the chain.
    async fn audit_unchained(&self) -> Result<u64>;

    /// Walks the chain up to the head read first (entries committed meanwhile are left
    /// for the next run) and reports the first broken link.
    async fn verify_audit_chain(&self) -> Result<ChainReport> {
        let head = self.audit_chain_head().await?;
        let mut v = ChainVerifier::default();
        let mut broken = None;
        let mut after = 0;
        'pages: loop {
            let rows = self.audit_chain_page(after, head.seq, PAGE).await?;
            for row in &rows {
                if let Err(b) = v.check(row) {
                    broken = Some(b);
                    break 'pages;
                }
                after = row.chain_seq;
            }
            if (rows.len() as u64) < u64::from(PAGE) {
                break;
            }
        }
        if broken.is_none() {
            broken = v.finish(&head).err();
        }
        Ok(ChainReport { checked: v.checked, unchained: self.audit_unchained().await?, head, broken })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use cordon_domain::audit::AuditEntry;

    fn chain(n: i64) -> Vec<ChainRow> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|i| {
                let entry = AuditEntry {
                    at: chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(i),
                    actor_id: Some(i),
                    actor: "a".into(),
                    role: None,
                    action: "x".into(),
                    target_kind: "t".into(),
                    target: i.to_string(),
                    request_id: "r".into(),
                    detail: String::new(),
                };
                let hash = chain_hash(&prev, &entry);
                let row = ChainRow {
                    record: AuditRecord { id: i * 10, entry },
                    chain_seq: i,
                    prev_hash: Some(prev.clone()),
                    hash: Some(hash.clone()),
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn verify(rows: &[ChainRow], head: &ChainHead) -> Result<u64, BrokenLink> {
        let mut v = ChainVerifier::default();
        for r in rows {
            v.check(r)?;
        }
        v.finish(head)?;
        Ok(v.checked)
    }

    fn head(rows: &[ChainRow]) -> ChainHead {
        rows.last().map_or(ChainHead { seq: 0, hash: GENESIS.into() }, |r| ChainHead {
            seq: r.chain_seq,
            hash: r.hash.clone().unwrap(),
        })
    }

    #[test]
    fn an_intact_chain_verifies() {
        let rows = chain(5);
        assert_eq!(verify(&rows, &head(&rows)), Ok(5));
        assert_eq!(verify(&[], &head(&[])), Ok(0));
    }

    #[test]
    fn the_first_broken_link_is_named() {
        let rows = chain(5);
        let h = head(&rows);
        let mut edited = rows.clone();
        edited[2].record.entry.detail = "changed".into();
        assert_eq!(
            verify(&edited, &h).unwrap_err(),
            BrokenLink { chain_seq: 3, id: Some(30), reason: Break::HashMismatch }
        );
        // Recomputing the edited entry's own hash moves the break to the next entry.
        edited[2].hash = Some(chain_hash(edited[2].prev_hash.as_deref().unwrap(), &edited[2].record.entry));
        assert_eq!(
            verify(&edited, &h).unwrap_err(),
            BrokenLink { chain_seq: 4, id: Some(40), reason: Break::PrevMismatch }
        );
        let mut deleted = rows.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted, &h).unwrap_err(), BrokenLink { chain_seq: 2, id: None, reason: Break::Missing });
        let tail_cut = &rows[..4];
        assert_eq!(verify(tail_cut, &h).unwrap_err(), BrokenLink { chain_seq: 5, id: None, reason: Break::Missing });
        let bad_head = ChainHead { seq: 5, hash: GENESIS.into() };
        assert_eq!(verify(&rows, &bad_head).unwrap_err().reason, Break::HeadMismatch);
    }
}
