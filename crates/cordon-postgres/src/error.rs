//! Turning driver errors into [`StoreError`]s.
//!
//! A PostgreSQL error's DETAIL quotes the row that failed (`Key (id_number)=(…) already
//! exists`), so only the SQLSTATE and the primary message are ever kept.

use cordon_store::StoreError;
use deadpool_postgres::PoolError;
use std::fmt::Display;
use tokio_postgres::error::SqlState;

/// Unique constraints that mean a conflict the caller can act on, by constraint name.
const CONFLICTS: &[(&str, &str, &str)] = &[
    ("users_username_key", "username_taken", "the username is already taken"),
    ("residents_id_number_key", "id_number_exists", "the ID number is already registered"),
    // Two instances ordering the same person or contact at the same moment: the plans
    // both saw no order; the second insert meets the index.
    ("quarantine_orders_open_resident_idx", "order_open", "this person already has an open quarantine order"),
    ("quarantine_orders_open_id_number_idx", "order_open", "this person already has an open quarantine order"),
    ("quarantine_orders_contact_idx", "contact_ordered", "an order was already issued for this contact"),
];

pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let conflict =
            CONFLICTS.iter().find(|(c, _, _)| *db.code() == SqlState::UNIQUE_VIOLATION && Some(*c) == db.constraint());
        if let Some((_, code, message)) = conflict {
            return StoreError::Conflict { code, message: (*message).to_string() };
        }
        return StoreError::Backend(format!("{} (SQLSTATE {})", db.message(), db.code().code()));
    }
    // The driver keeps the cause (an I/O error, a timeout) as the source, not in its
    // message.
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    StoreError::Backend(message)
}

pub(crate) fn pool(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg(e),
        other => StoreError::Backend(format!("connection pool: {other}")),
    }
}

/// A stored value that no longer parses: names the row by id and the column, never the
/// value.
pub(crate) fn corrupt(table: &str, id: impl Display, column: &str) -> StoreError {
    StoreError::Backend(format!("corrupt value in {table} {id}, column {column}"))
}

/// `?`-friendly conversion of driver results.
pub(crate) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(pg)
    }
}

impl<T> Db<T> for Result<T, PoolError> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(pool)
    }
}
