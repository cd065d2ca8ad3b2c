//! Audit records: who read or changed which personal data, when, from which request.
//!
//! An entry names records by their database id or area code, never by ID number or
//! phone: the audit log is itself read by people and must not leak what it protects.

use crate::role::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub role: Option<Role>,
    /// Stable code such as `resident.read`, `roster.read`, `resident.update`,
    /// `residents.import`, `residents.export`, `access.denied`, `login.failed`.
    pub action: String,
    /// `resident`, `building`, `area`, `user`, `route`.
    pub target_kind: String,
    pub target: String,
    pub request_id: String,
    /// Short description without personal identifiers.
    pub detail: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// The hash the audit chain starts from (before the first chained entry).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The link of the tamper-evident audit chain: SHA-256 (hex) over the previous entry's
/// hash and the entry's fields, each field written as `<byte length>:<text>;` so that no
/// two different entries share an encoding. The instant is written in UTC with exactly
/// six fractional digits (the precision both databases keep); a missing actor id or role
/// is the empty text.
///
/// PostgreSQL computes the same bytes in SQL (its `audit_chain_link` trigger); the
/// conformance suite checks that both backends' chains verify with this function.
pub fn chain_hash(prev: &str, e: &AuditEntry) -> String {
    use sha2::{Digest, Sha256};
    let at = e.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let actor_id = e.actor_id.map(|i| i.to_string()).unwrap_or_default();
    let role = e.role.map(|r| r.code()).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    for field in [
        at.as_str(),
        actor_id.as_str(),
        e.actor.as_str(),
        role,
        e.action.as_str(),
        e.target_kind.as_str(),
        e.target.as_str(),
        e.request_id.as_str(),
        e.detail.as_str(),
    ] {
        h.update(field.len().to_string().as_bytes());
        h.update(b":");
        h.update(field.as_bytes());
        h.update(b";");
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry() -> AuditEntry {
        AuditEntry {
            at: Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap() + chrono::Duration::nanoseconds(123_456_789),
            actor_id: Some(7),
            actor: "指挥部".into(),
            role: Some(Role::Commander),
            action: "resident.read".into(),
            target_kind: "resident".into(),
            target: "42".into(),
            request_id: "r-1".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn the_chain_hash_covers_every_field_and_the_previous_link() {
        let e = entry();
        let h = chain_hash(GENESIS, &e);
        assert_eq!(h.len(), 64);
        assert_eq!(h, chain_hash(GENESIS, &e), "deterministic");
        assert_ne!(h, chain_hash(&h, &e), "the previous link counts");
        // Sub-microsecond digits are not stored, so they do not count.
        let same = AuditEntry { at: e.at - chrono::Duration::nanoseconds(789), ..e.clone() };
        assert_eq!(h, chain_hash(GENESIS, &same));
        let changes = [
            AuditEntry { at: e.at + chrono::Duration::microseconds(1), ..e.clone() },
            AuditEntry { actor_id: None, ..e.clone() },
            AuditEntry { actor: "x".into(), ..e.clone() },
            AuditEntry { role: None, ..e.clone() },
            AuditEntry { action: "resident.update".into(), ..e.clone() },
            AuditEntry { target_kind: "area".into(), ..e.clone() },
            AuditEntry { target: "43".into(), ..e.clone() },
            AuditEntry { request_id: "r-2".into(), ..e.clone() },
            AuditEntry { detail: "x".into(), ..e.clone() },
            // Moving text across a field boundary changes the encoding.
            AuditEntry { target_kind: "resident4".into(), target: "2".into(), ..e.clone() },
        ];
        for c in changes {
            assert_ne!(h, chain_hash(GENESIS, &c), "{c:?}");
        }
    }
}
