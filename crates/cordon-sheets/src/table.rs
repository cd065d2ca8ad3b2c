//! A plain table reader for files other than the resident layout (lab result files):
//! the header row and every later non-blank row as trimmed cell text, with the row
//! numbers a spreadsheet program shows.
//!
//! Owns nothing but the reading; the caller maps columns and validates. Must never put
//! cell content into an error.

use crate::read::{Cell, Sink, read};
use crate::{Format, MAX_DATA_ROWS, MAX_UPLOAD_BYTES, SheetError};

/// A file read as text: the header's cells and each data row with its row number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

struct Collect(Table);

impl Sink for Collect {
    fn header(&mut self, _row: usize, cells: &[Cell]) -> Result<(), SheetError> {
        self.0.header = cells.iter().map(|c| c.text.trim().to_string()).collect();
        Ok(())
    }
    fn row(&mut self, row: usize, cells: &[Cell]) -> Result<(), SheetError> {
        if self.0.rows.len() >= MAX_DATA_ROWS {
            return Err(SheetError::too_many_rows());
        }
        self.0.rows.push((row, cells.iter().map(|c| c.text.trim().to_string()).collect()));
        Ok(())
    }
}

/// Reads `bytes` as a table. An empty file is [`SheetError::Empty`].
pub fn read_table(bytes: &[u8], format: Format) -> Result<Table, SheetError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(SheetError::too_large());
    }
    let mut sink = Collect(Table::default());
    read(bytes, format, &mut sink)?;
    Ok(sink.0)
}
