//! Online backup of the database file: `VACUUM INTO` on a read connection writes a
//! consistent snapshot (the last committed state when it starts) to a new file while the
//! server keeps reading and writing; the copy is then checked with `integrity_check`.

use crate::rows::OrBackend;
use cordon_store::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Writes a snapshot of the database at `source` to `dest` (which must not exist).
pub(crate) fn backup(source: &Path, dest: &Path) -> Result<()> {
    if dest.exists() {
        return Err(StoreError::Conflict { code: "backup_exists", message: "the backup file already exists".into() });
    }
    let dest_text = dest.to_str().ok_or_else(|| StoreError::Backend("the backup path is not UTF-8".into()))?;
    let conn = crate::open_reader(source)?;
    conn.execute("VACUUM INTO ?1", [dest_text]).db()?;
    drop(conn);
    let copy = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_ONLY).db()?;
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).db()?;
    if check != "ok" {
        return Err(StoreError::Backend(format!("the backup failed its integrity check: {check}")));
    }
    Ok(())
}
