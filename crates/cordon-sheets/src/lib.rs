//! Spreadsheets in and out of the population register: resident import from `.xlsx` or
//! `.csv` with a row-by-row error report, and export of an area's residents in the same
//! layout, so that an exported file imports back unchanged.
//!
//! Used by the CLI (`cordon import residents`, `cordon export residents`) and by the web
//! UI (upload on the import page, download on the roster page); both get the same
//! checks, the same report and the same audit records.
//!
//! What this crate owns: the column layout (Chinese headers, English accepted), reading
//! cells into text, checking every row with the domain parsers, resolving a row's place
//! to a unit of the caller's scope, and writing files.
//!
//! What it must never do: write part of an import (every import is one `apply_roster`
//! call, one transaction, with its audit entries); call the store once
//! per row (an import of 430,000 rows must stay linear); put an ID number, a phone number
//! or any other cell content of a user's file into an error message (the report names the
//! row and the column, which is enough to find the cell).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod columns;
mod error;
mod import;
mod read;
mod table;
mod validate;
mod write;

pub use cordon_store::roster::ChangedField;
pub use error::{RowError, SheetError};
pub use import::{
    ChangeLine, DiffReport, ImportMode, ImportOptions, ImportReport, MovedLine, REPORT_LINES, import_residents,
    import_roster,
};
pub use table::{Table, TableCell, read_table, write_table};
pub use write::{ExportRow, export_residents, export_rows, unit_paths, write_rows};

use serde::{Deserialize, Serialize};

/// The largest upload accepted. The web layer enforces it before reading the body;
/// [`import_residents`] checks it again so that the CLI gets the same answer.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// The most data rows one file may hold (the row limit of Excel itself). Guards memory
/// against a small, highly compressed workbook that unpacks into millions of rows.
pub const MAX_DATA_ROWS: usize = 1_048_575;

/// The two file formats, read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Xlsx,
    Csv,
}

impl Format {
    /// The format named by a file's extension (`.xlsx`, `.csv`, any case). Old `.xls` and
    /// anything else is `None`: the caller says which formats are accepted.
    pub fn from_file_name(name: &str) -> Option<Format> {
        let ext = name.trim().rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" => Some(Format::Xlsx),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// `xlsx` / `csv`, also accepted by [`std::str::FromStr`] (for `--format`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "xlsx" => Ok(Format::Xlsx),
            "csv" => Ok(Format::Csv),
            other => Err(format!("unknown format `{other}` (expected xlsx or csv)")),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}

#[cfg(test)]
mod tests;
