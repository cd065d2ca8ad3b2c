//! Conversions between SQLite values and domain types, timestamps, and error mapping.
//!
//! Rows are read into plain strings first and parsed into domain types afterwards, so
//! that a corrupt value becomes an error that names the table and row id, never the
//! value itself (which may be an ID number or a phone number).

use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::id_number::IdNumber;
use cordon_domain::name::PersonName;
use cordon_domain::phone::Phone;
use cordon_domain::registry::{Resident, ResidentFlags, ResidentStatus};
use cordon_domain::role::{Role, UserScope};
use cordon_store::{Result, StoreError, User};
use rusqlite::{Row, ffi};

/// Maps a rusqlite error to [`StoreError::Backend`]. SQLite's messages name tables,
/// columns and constraints but never bound values, so they are safe to log.
pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) trait OrBackend<T> {
    fn db(self) -> Result<T>;
}

impl<T> OrBackend<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(backend)
    }
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error(),
        Some(ffi::Error { extended_code, .. })
            if *extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE || *extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

fn corrupt(table: &str, id: &dyn std::fmt::Display, column: &str) -> StoreError {
    StoreError::Backend(format!("stored {table} {id} has an invalid {column}"))
}

/// RFC 3339 UTC with exactly six fractional digits: fixed width, so text order is time
/// order, and the same precision PostgreSQL keeps.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn parse_ts(s: &str, table: &str, id: &dyn std::fmt::Display) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| corrupt(table, id, "timestamp"))
}

pub(crate) fn area_code(s: &str, table: &str, id: &dyn std::fmt::Display) -> Result<AreaCode> {
    AreaCode::parse(s).map_err(|_| corrupt(table, id, "area code"))
}

/// The columns [`RawResident::from_row`] reads, from `residents r JOIN households h`.
pub(crate) const RESIDENT_COLS: &str = "r.id, r.household_id, r.unit_code, h.room, r.name, r.id_number, r.phone, \
     r.bedridden, r.no_smartphone, r.temporary, r.status";

pub(crate) struct RawResident {
    id: i64,
    household_id: i64,
    unit: String,
    room: String,
    name: String,
    id_number: String,
    phone: Option<String>,
    bedridden: bool,
    no_smartphone: bool,
    temporary: bool,
    status: String,
}

impl RawResident {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<RawResident> {
        Ok(RawResident {
            id: row.get(0)?,
            household_id: row.get(1)?,
            unit: row.get(2)?,
            room: row.get(3)?,
            name: row.get(4)?,
            id_number: row.get(5)?,
            phone: row.get(6)?,
            bedridden: row.get(7)?,
            no_smartphone: row.get(8)?,
            temporary: row.get(9)?,
            status: row.get(10)?,
        })
    }

    pub(crate) fn parse(self) -> Result<Resident> {
        let id = self.id;
        let phone = match self.phone {
            Some(p) => Some(Phone::parse(&p).map_err(|_| corrupt("resident", &id, "phone"))?),
            None => None,
        };
        Ok(Resident {
            id,
            household_id: self.household_id,
            unit: area_code(&self.unit, "resident", &id)?,
            room: self.room,
            name: PersonName::parse(&self.name).map_err(|_| corrupt("resident", &id, "name"))?,
            id_number: IdNumber::parse(&self.id_number).map_err(|_| corrupt("resident", &id, "id_number"))?,
            phone,
            flags: ResidentFlags {
                bedridden: self.bedridden,
                no_smartphone: self.no_smartphone,
                temporary: self.temporary,
            },
            status: ResidentStatus::parse(&self.status),
        })
    }
}

/// The columns [`RawUser::from_row`] reads, from `users u`.
pub(crate) const USER_COLS: &str = "u.id, u.username, u.display_name, u.role, u.scope_kind, u.scope_ref, u.password_hash, u.created_at, \
     u.disabled_at";

pub(crate) struct RawUser {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    scope_kind: String,
    scope_ref: String,
    password_hash: String,
    created_at: String,
    disabled_at: Option<String>,
}

impl RawUser {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<RawUser> {
        Ok(RawUser {
            id: row.get(0)?,
            username: row.get(1)?,
            display_name: row.get(2)?,
            role: row.get(3)?,
            scope_kind: row.get(4)?,
            scope_ref: row.get(5)?,
            password_hash: row.get(6)?,
            created_at: row.get(7)?,
            disabled_at: row.get(8)?,
        })
    }

    pub(crate) fn parse(self) -> Result<User> {
        let id = self.id;
        let scope = match self.scope_kind.as_str() {
            "area" => UserScope::Area(area_code(&self.scope_ref, "user", &id)?),
            "grid" => UserScope::Grid(self.scope_ref.parse().map_err(|_| corrupt("user", &id, "scope"))?),
            _ => return Err(corrupt("user", &id, "scope")),
        };
        Ok(User {
            id,
            username: self.username,
            display_name: self.display_name,
            role: Role::parse(&self.role).map_err(|_| corrupt("user", &id, "role"))?,
            scope,
            password_hash: self.password_hash,
            created_at: parse_ts(&self.created_at, "user", &id)?,
            disabled_at: self.disabled_at.map(|t| parse_ts(&t, "user", &id)).transpose()?,
        })
    }
}

pub(crate) fn scope_columns(scope: &UserScope) -> (&'static str, String) {
    match scope {
        UserScope::Area(code) => ("area", code.as_str().to_string()),
        UserScope::Grid(id) => ("grid", id.to_string()),
    }
}

pub(crate) fn parse_role(s: Option<String>, table: &str, id: &dyn std::fmt::Display) -> Result<Option<Role>> {
    s.map(|r| Role::parse(&r).map_err(|_| corrupt(table, id, "role"))).transpose()
}
