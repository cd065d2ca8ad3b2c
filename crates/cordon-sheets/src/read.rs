//! Turning a file's bytes into rows of cell text, streamed to a [`Sink`].
//!
//! Rows are numbered as the user sees them in a spreadsheet program (1-based, blank rows
//! counted) so that a report's "row 17" is the row 17 they scroll to. The reader never
//! holds the whole sheet: an `.xlsx` is read cell by cell from its XML, a CSV record by
//! record.

use crate::{Format, SheetError};
use calamine::{DataRef, Reader, SheetType, Xlsx};
use std::fmt::Write as _;
use std::io::Cursor;

/// Columns beyond this are ignored: the layout has 13, a sheet with thousands of columns
/// must not make every row cost thousands of cells.
const MAX_COLUMNS: usize = 256;

/// One cell as text. `lossy` marks a number too long to have survived as a number
/// (Excel keeps 15 significant digits, so an 18-digit ID number typed into a cell that
/// is not formatted as text has already lost its last digits).
#[derive(Debug, Clone, Default)]
pub(crate) struct Cell {
    pub text: String,
    pub lossy: bool,
}

impl Cell {
    fn clear(&mut self) {
        self.text.clear();
        self.lossy = false;
    }
    fn is_blank(&self) -> bool {
        !self.lossy && self.text.trim().is_empty()
    }
}

pub(crate) trait Sink {
    /// A row that is not blank, until one is taken as the header (`Ok(true)`). A sink
    /// that says `false` (a title row above the header, a note) is offered the next.
    fn header(&mut self, row: usize, cells: &[Cell]) -> Result<bool, SheetError>;
    /// Every later row that is not blank, in order.
    fn row(&mut self, row: usize, cells: &[Cell]) -> Result<(), SheetError>;
    /// After the last row: a sink that never took a header says why here.
    fn finish(&mut self) -> Result<(), SheetError> {
        Ok(())
    }
}

/// Reads the file into `sink`. A file without a single non-blank row is
/// [`SheetError::Empty`].
pub(crate) fn read(bytes: &[u8], format: Format, sink: &mut dyn Sink) -> Result<(), SheetError> {
    let mut rows = Rows { sink: &mut *sink, header_seen: false };
    match format {
        Format::Xlsx => read_xlsx(bytes, &mut rows)?,
        Format::Csv => read_csv(bytes, &mut rows)?,
    }
    let header_seen = rows.header_seen;
    sink.finish()?;
    if !header_seen {
        return Err(SheetError::Empty);
    }
    Ok(())
}

struct Rows<'a> {
    sink: &'a mut dyn Sink,
    header_seen: bool,
}

impl Rows<'_> {
    fn emit(&mut self, row: usize, cells: &[Cell]) -> Result<(), SheetError> {
        if cells.iter().all(Cell::is_blank) {
            return Ok(());
        }
        if self.header_seen {
            self.sink.row(row, cells)
        } else {
            self.header_seen = self.sink.header(row, cells)?;
            Ok(())
        }
    }
}

fn read_xlsx(bytes: &[u8], rows: &mut Rows<'_>) -> Result<(), SheetError> {
    let not_xlsx = |_| SheetError::NotXlsx;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(not_xlsx)?;
    // The first worksheet (chart sheets and the like hold no rows).
    let Some(sheet) = book.sheets_metadata().iter().find(|s| s.typ == SheetType::WorkSheet).map(|s| s.name.clone())
    else {
        return Err(SheetError::Empty);
    };
    let mut cells = book.worksheet_cells_reader(&sheet).map_err(not_xlsx)?;
    let mut buf: Vec<Cell> = Vec::new();
    let mut width = 0usize;
    let mut current: Option<u32> = None;
    while let Some(cell) = cells.next_cell().map_err(not_xlsx)? {
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if let Some(prev) = current {
                rows.emit(prev as usize + 1, &buf[..width])?;
            }
            for b in buf.iter_mut().take(width) {
                b.clear();
            }
            width = 0;
            current = Some(r);
        }
        let c = c as usize;
        if c >= MAX_COLUMNS {
            continue;
        }
        if buf.len() <= c {
            buf.resize_with(c + 1, Cell::default);
        }
        width = width.max(c + 1);
        set_cell(&mut buf[c], cell.get_value());
    }
    if let Some(prev) = current {
        rows.emit(prev as usize + 1, &buf[..width])?;
    }
    Ok(())
}

fn set_cell(cell: &mut Cell, value: &DataRef<'_>) {
    cell.clear();
    // Writing into a String cannot fail.
    let _ = match value {
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => {
            cell.text.push_str(s);
            Ok(())
        }
        DataRef::SharedString(s) => {
            cell.text.push_str(s);
            Ok(())
        }
        DataRef::Int(i) => write!(cell.text, "{i}"),
        DataRef::Float(f) => write_number(cell, *f),
        DataRef::DateTime(d) => write_number(cell, d.as_f64()),
        DataRef::Bool(b) => {
            cell.text.push_str(if *b { "true" } else { "false" });
            Ok(())
        }
        DataRef::Error(e) => write!(cell.text, "{e}"),
        DataRef::Empty => Ok(()),
    };
}

/// Numbers come back as `f64`: a room `1203` as `1203.0`, a phone number as
/// `13812345678.0`. Whole numbers below 10^15 are exact and written without the
/// fraction; anything longer may have lost digits, so it is marked rather than trusted.
fn write_number(cell: &mut Cell, f: f64) -> std::fmt::Result {
    if !f.is_finite() || f.abs() >= 1e15 {
        cell.lossy = true;
        write!(cell.text, "{f}")
    } else if f.fract() == 0.0 {
        write!(cell.text, "{}", f as i64)
    } else {
        write!(cell.text, "{f}")
    }
}

fn read_csv(bytes: &[u8], rows: &mut Rows<'_>) -> Result<(), SheetError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        // UTF-16, what Excel calls "Unicode text".
        return Err(SheetError::NotUtf8);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"\xD0\xCF\x11\xE0") || bytes.contains(&0) {
        // A zip (xlsx), an OLE file (xls) or some other binary named .csv.
        return Err(SheetError::NotCsv);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| SheetError::NotUtf8)?;
    // Tab-separated text (copied out of a spreadsheet) is read as such.
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = if !first_line.contains(',') && first_line.contains('\t') { b'\t' } else { b',' };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut buf: Vec<Cell> = Vec::new();
    // Line breaks inside quoted fields: a spreadsheet shows such a record as one row.
    let mut inner_breaks = 0usize;
    while reader.read_record(&mut record).map_err(|_| SheetError::NotCsv)? {
        // The reader reports where it started looking for the record: before any blank
        // lines it skipped, which a spreadsheet would show as rows of their own.
        let (mut line, byte) = record.position().map(|p| (p.line() as usize, p.byte() as usize)).unwrap_or((1, 0));
        line += text
            .as_bytes()
            .get(byte..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .filter(|b| **b == b'\n')
            .count();
        let row = line.saturating_sub(inner_breaks).max(1);
        let width = record.len().min(MAX_COLUMNS);
        if buf.len() < width {
            buf.resize_with(width, Cell::default);
        }
        for (cell, field) in buf.iter_mut().zip(record.iter()) {
            cell.clear();
            cell.text.push_str(field);
            inner_breaks += field.bytes().filter(|b| *b == b'\n').count();
        }
        rows.emit(row, &buf[..width])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(usize, Vec<String>)>);

    impl Sink for Collect {
        fn header(&mut self, row: usize, cells: &[Cell]) -> Result<bool, SheetError> {
            self.row(row, cells)?;
            Ok(true)
        }
        fn row(&mut self, row: usize, cells: &[Cell]) -> Result<(), SheetError> {
            self.0.push((row, cells.iter().map(|c| if c.lossy { "LOSSY".into() } else { c.text.clone() }).collect()));
            Ok(())
        }
    }

    fn csv_rows(s: &[u8]) -> Result<Vec<(usize, Vec<String>)>, SheetError> {
        let mut c = Collect::default();
        read(s, Format::Csv, &mut c)?;
        Ok(c.0)
    }

    #[test]
    fn csv_rows_are_numbered_as_in_a_spreadsheet() {
        let rows = csv_rows("\u{feff}姓名,房号\n\n张三,101\n\"李\n四\",102\n王五,103\n".as_bytes()).unwrap();
        let nums: Vec<usize> = rows.iter().map(|r| r.0).collect();
        assert_eq!(nums, vec![1, 3, 4, 5]);
        assert_eq!(rows[0].1, vec!["姓名", "房号"]);
        assert_eq!(rows[3].1, vec!["王五", "103"]);
        let crlf = csv_rows("姓名,房号\r\n张三,101\r\n\r\n\"李\r\n四\",102\r\n王五,103".as_bytes()).unwrap();
        assert_eq!(crlf.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 4, 5]);
    }

    #[test]
    fn csv_rejects_other_encodings_and_binaries() {
        // "姓名" in GB18030.
        assert!(matches!(csv_rows(b"\xd0\xd5\xc3\xfb,a\n1,2\n"), Err(SheetError::NotUtf8)));
        assert!(matches!(csv_rows(b"\xff\xfea\x00"), Err(SheetError::NotUtf8)));
        assert!(matches!(csv_rows(b"PK\x03\x04rest"), Err(SheetError::NotCsv)));
        assert!(matches!(csv_rows(b""), Err(SheetError::Empty)));
        assert!(matches!(csv_rows(b"\xEF\xBB\xBF\n , \n"), Err(SheetError::Empty)));
    }

    #[test]
    fn tab_separated() {
        let rows = csv_rows("姓名\t房号\n张三\t101\n".as_bytes()).unwrap();
        assert_eq!(rows[1].1, vec!["张三", "101"]);
    }

    #[test]
    fn numbers_from_xlsx() {
        let mut c = Cell::default();
        set_cell(&mut c, &DataRef::Float(1203.0));
        assert_eq!((c.text.as_str(), c.lossy), ("1203", false));
        set_cell(&mut c, &DataRef::Float(13812345678.0));
        assert_eq!((c.text.as_str(), c.lossy), ("13812345678", false));
        set_cell(&mut c, &DataRef::Float(141102198507150000.0));
        assert!(c.lossy);
        set_cell(&mut c, &DataRef::Float(1.5));
        assert_eq!(c.text, "1.5");
        set_cell(&mut c, &DataRef::Bool(true));
        assert_eq!(c.text, "true");
    }

    #[test]
    fn not_an_xlsx() {
        let mut c = Collect::default();
        assert!(matches!(read(b"just text", Format::Xlsx, &mut c), Err(SheetError::NotXlsx)));
        assert!(matches!(read(b"", Format::Xlsx, &mut c), Err(SheetError::NotXlsx)));
    }
}
