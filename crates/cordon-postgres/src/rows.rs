//! Rows to domain values. Every stored value is parsed again on the way out, so a row
//! that was damaged outside Cordon becomes an error rather than an invalid value.

use crate::error::{Db, corrupt};
use cordon_domain::area::AreaCode;
use cordon_domain::audit::{AuditEntry, AuditRecord};
use cordon_domain::id_number::IdNumber;
use cordon_domain::name::PersonName;
use cordon_domain::phone::Phone;
use cordon_domain::registry::{Resident, ResidentFlags, ResidentStatus};
use cordon_domain::role::{Role, UserScope};
use cordon_store::{StoreError, User};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

type Result<T> = std::result::Result<T, StoreError>;

pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    row.try_get(idx).db()
}

/// Columns read by [`resident`]; `r` is `residents`, `h` its household.
pub(crate) const RESIDENT_COLUMNS: &str = "r.id, r.household_id, r.unit_code, h.room, r.name, r.id_number, \
     r.phone, r.bedridden, r.no_smartphone, r.temporary, r.status";

pub(crate) fn resident(row: &Row) -> Result<Resident> {
    let id: i64 = get(row, 0)?;
    let bad = |column| corrupt("resident", id, column);
    let unit: &str = get(row, 2)?;
    let name: &str = get(row, 4)?;
    let id_number: &str = get(row, 5)?;
    let phone: Option<&str> = get(row, 6)?;
    let status: &str = get(row, 10)?;
    Ok(Resident {
        id,
        household_id: get(row, 1)?,
        unit: AreaCode::parse(unit).map_err(|_| bad("unit_code"))?,
        room: get(row, 3)?,
        name: PersonName::parse(name).map_err(|_| bad("name"))?,
        id_number: IdNumber::parse(id_number).map_err(|_| bad("id_number"))?,
        phone: phone.map(Phone::parse).transpose().map_err(|_| bad("phone"))?,
        flags: ResidentFlags { bedridden: get(row, 7)?, no_smartphone: get(row, 8)?, temporary: get(row, 9)? },
        status: ResidentStatus::parse(status),
    })
}

pub(crate) const USER_COLUMNS: &str =
    "id, username, display_name, role, scope_kind, scope_ref, password_hash, created_at, disabled_at";

/// Columns of [`USER_COLUMNS`] qualified by `u`, for joins.
pub(crate) const USER_COLUMNS_U: &str = "u.id, u.username, u.display_name, u.role, u.scope_kind, u.scope_ref, u.password_hash, u.created_at, \
     u.disabled_at";

pub(crate) fn user(row: &Row) -> Result<User> {
    let id: i64 = get(row, 0)?;
    let role: &str = get(row, 3)?;
    let scope_kind: &str = get(row, 4)?;
    let scope_ref: &str = get(row, 5)?;
    let scope = match scope_kind {
        "area" => UserScope::Area(AreaCode::parse(scope_ref).map_err(|_| corrupt("user", id, "scope_ref"))?),
        "grid" => UserScope::Grid(scope_ref.parse().map_err(|_| corrupt("user", id, "scope_ref"))?),
        _ => return Err(corrupt("user", id, "scope_kind")),
    };
    Ok(User {
        id,
        username: get(row, 1)?,
        display_name: get(row, 2)?,
        role: Role::parse(role).map_err(|_| corrupt("user", id, "role"))?,
        scope,
        password_hash: get(row, 6)?,
        created_at: get(row, 7)?,
        disabled_at: get(row, 8)?,
    })
}

/// How a scope is stored: (`scope_kind`, `scope_ref`).
pub(crate) fn scope_columns(scope: &UserScope) -> (&'static str, String) {
    match scope {
        UserScope::Area(code) => ("area", code.as_str().to_string()),
        UserScope::Grid(id) => ("grid", id.to_string()),
    }
}

pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor_id, actor, role, action, target_kind, target, request_id, detail";

pub(crate) fn audit_record(row: &Row) -> Result<AuditRecord> {
    let id: i64 = get(row, 0)?;
    let role: Option<&str> = get(row, 4)?;
    Ok(AuditRecord {
        id,
        entry: AuditEntry {
            at: get(row, 1)?,
            actor_id: get(row, 2)?,
            actor: get(row, 3)?,
            role: role.map(Role::parse).transpose().map_err(|_| corrupt("audit entry", id, "role"))?,
            action: get(row, 5)?,
            target_kind: get(row, 6)?,
            target: get(row, 7)?,
            request_id: get(row, 8)?,
            detail: get(row, 9)?,
        },
    })
}

pub(crate) fn area_code(raw: &str, table: &str, id: impl std::fmt::Display, column: &str) -> Result<AreaCode> {
    AreaCode::parse(raw).map_err(|_| corrupt(table, id, column))
}
