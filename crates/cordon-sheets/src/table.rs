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
    /// The header's row number (1 unless blank rows come first).
    pub header_row: usize,
    pub header: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

struct Collect(Table);

impl Sink for Collect {
    fn header(&mut self, row: usize, cells: &[Cell]) -> Result<bool, SheetError> {
        self.0.header_row = row;
        self.0.header = cells.iter().map(|c| c.text.trim().to_string()).collect();
        Ok(true)
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

/// A cell of a report table.
#[derive(Debug, Clone, PartialEq)]
pub enum TableCell {
    /// Kept as text in the workbook (codes, phone numbers, room numbers, names).
    Text(String),
    Number(f64),
}

/// Writes a one-sheet workbook: a bold header row, then `rows`. For reports (coverage,
/// missed lists), not for re-import; text cells stay text so Excel does not turn codes and
/// phone numbers into numbers.
pub fn write_table(sheet: &str, header: &[&str], rows: &[Vec<TableCell>]) -> Result<Vec<u8>, SheetError> {
    use rust_xlsxwriter::{Format as CellFormat, Workbook};
    let write = || -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        let mut book = Workbook::new();
        let ws = book.add_worksheet();
        ws.set_name(sheet)?;
        let bold = CellFormat::new().set_bold();
        let text = CellFormat::new().set_num_format("@");
        for (c, h) in header.iter().enumerate() {
            let col = u16::try_from(c).unwrap_or(u16::MAX);
            ws.write_string_with_format(0, col, *h, &bold)?;
            ws.set_column_width(col, 8.0_f64.max(h.chars().count() as f64 * 2.2))?;
        }
        for (r, row) in rows.iter().enumerate() {
            let rr = u32::try_from(r + 1).unwrap_or(u32::MAX);
            for (c, cell) in row.iter().enumerate() {
                let col = u16::try_from(c).unwrap_or(u16::MAX);
                match cell {
                    TableCell::Text(s) => ws.write_string_with_format(rr, col, s, &text)?,
                    TableCell::Number(n) => ws.write_number(rr, col, *n)?,
                };
            }
        }
        ws.set_freeze_panes(1, 0)?;
        book.save_to_buffer()
    };
    write().map_err(|e| SheetError::Write(e.to_string()))
}

#[cfg(test)]
mod write_tests {
    use super::*;

    #[test]
    fn table_round_trips_through_the_reader() {
        let rows = vec![
            vec![TableCell::Text("141102001".into()), TableCell::Text("滨河街道".into()), TableCell::Number(90.5)],
            vec![TableCell::Text("0123".into()), TableCell::Text("x".into()), TableCell::Number(3.0)],
        ];
        let bytes = write_table("覆盖", &["编码", "名称", "%"], &rows).unwrap();
        let t = read_table(&bytes, Format::Xlsx).unwrap();
        assert_eq!(t.header, vec!["编码", "名称", "%"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].1[0], "0123", "leading zero kept: text cell");
        assert_eq!(t.rows[0].1[1], "滨河街道");
    }
}
