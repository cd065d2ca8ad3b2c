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
