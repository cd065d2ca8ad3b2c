//! Errors of this crate: one per bad cell of a row (reported, not raised) and one per
//! file that cannot be read at all. Each has a stable code and a message in Chinese and
//! English; none carries a cell's content.

use crate::columns::Col;
use crate::{MAX_DATA_ROWS, MAX_UPLOAD_BYTES};
use cordon_domain::Denied;
use cordon_store::StoreError;
use serde::Serialize;

/// One problem with one cell (or a whole row) of an imported file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The row number the user sees in the spreadsheet: the header is row 1.
    pub row: usize,
    /// The column's header as written in the file, or `""` for the whole row.
    pub column: String,
    pub code: &'static str,
    pub zh: String,
    pub en: String,
}

/// The file as a whole cannot be imported (or exported); nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("the file is not a valid .xlsx workbook")]
    NotXlsx,
    #[error("the file is not a CSV text file")]
    NotCsv,
    #[error("the CSV file is not encoded as UTF-8")]
    NotUtf8,
    #[error("the file has no data rows")]
    Empty,
    #[error("missing required columns: {}", missing.join(", "))]
    MissingHeaders {
        /// The row taken for the header (the best candidate when none had every column).
        row: usize,
        missing: Vec<String>,
    },
    #[error("column {header} appears more than once")]
    DuplicateHeader { header: String },
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the file has more than {limit} rows")]
    TooManyRows { limit: usize },
    #[error(transparent)]
    Forbidden(#[from] Denied),
    /// Someone registered one of the file's ID numbers between the check and the write.
    #[error("an ID number of the file was registered meanwhile; nothing was written")]
    RegisteredMeanwhile,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Building the export file failed.
    #[error("could not write the file: {0}")]
    Write(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl SheetError {
    /// Stable machine code; the web layer maps it to HTTP and shows it next to the message.
    pub fn code(&self) -> &'static str {
        match self {
            SheetError::NotXlsx => "not_xlsx",
            SheetError::NotCsv => "not_csv",
            SheetError::NotUtf8 => "csv_not_utf8",
            SheetError::Empty => "file_empty",
            SheetError::MissingHeaders { .. } => "missing_headers",
            SheetError::DuplicateHeader { .. } => "duplicate_header",
            SheetError::TooLarge { .. } => "file_too_large",
            SheetError::TooManyRows { .. } => "too_many_rows",
            SheetError::Forbidden(d) => d.code,
            SheetError::RegisteredMeanwhile => "id_number_exists",
            SheetError::Store(e) => e.code(),
            SheetError::Write(_) => "export_failed",
            SheetError::Internal(_) => "internal",
        }
    }

    pub fn zh(&self) -> String {
        match self {
            SheetError::NotXlsx => {
                "该文件不是有效的Excel工作簿（.xlsx）。如果是旧版.xls或其他格式，请在Excel或WPS中“另存为”.xlsx后再导入。".into()
            }
            SheetError::NotCsv => "该文件不是CSV文本文件。Excel文件请保存为.xlsx并以.xlsx扩展名导入。".into(),
            SheetError::NotUtf8 => {
                "CSV文件不是UTF-8编码。请在Excel中“另存为”“CSV UTF-8（逗号分隔）”，或直接导入.xlsx文件。".into()
            }
            SheetError::Empty => "文件中没有数据行（第1行应为表头，从第2行起为居民）。".into(),
            SheetError::MissingHeaders { row, missing } => {
                let mut s = format!("第{row}行表头缺少必需的列：{}。", missing.join("、"));
                if missing.iter().any(|m| is_place_column(m)) {
                    s.push_str("住址可用“单元编码”一列，或“小区”“楼栋”“单元”三列表示。");
                }
                s
            }
            SheetError::DuplicateHeader { header } => format!("表头中“{header}”列出现了不止一次，请删除重复的列。"),
            SheetError::TooLarge { limit } => {
                format!("文件过大：上限为{} MB。请拆分成几个文件分别导入。", limit / (1024 * 1024))
            }
            SheetError::TooManyRows { limit } => format!("文件行数过多：最多{limit}行。请拆分成几个文件分别导入。"),
            SheetError::Forbidden(d) => d.zh.clone(),
            SheetError::RegisteredMeanwhile => {
                "导入期间文件中的某个身份证号已被他人登记，未写入任何数据。请重新导入以查看最新的检查结果。".into()
            }
            SheetError::Store(_) => "数据库暂时不可用，未写入任何数据，请稍后重试。".into(),
            SheetError::Write(_) => "生成导出文件失败，请稍后重试。".into(),
            SheetError::Internal(_) => "处理文件时发生内部错误，未写入任何数据。".into(),
        }
    }

    pub fn en(&self) -> String {
        match self {
            SheetError::NotXlsx => "This file is not a valid Excel workbook (.xlsx). If it is an old .xls or another format, use \"Save as\" .xlsx in Excel or WPS and import that.".into(),
            SheetError::NotCsv => "This file is not a CSV text file. Save Excel files as .xlsx and import them with the .xlsx extension.".into(),
            SheetError::NotUtf8 => "The CSV file is not encoded as UTF-8. In Excel use \"Save as\" → \"CSV UTF-8 (comma delimited)\", or import the .xlsx file instead.".into(),
            SheetError::Empty => "The file has no data rows (row 1 must be the header, residents start on row 2).".into(),
            SheetError::MissingHeaders { row, missing } => {
                let names: Vec<String> = missing
                    .iter()
                    .map(|m| match Col::from_zh(m) {
                        Some(c) => format!("{m} ({})", c.en()),
                        None => m.clone(),
                    })
                    .collect();
                let mut s = format!("The header (row {row}) lacks required columns: {}.", names.join(", "));
                if missing.iter().any(|m| is_place_column(m)) {
                    s.push_str(" The place is given either by 单元编码 (unit_code) alone or by 小区, 楼栋 and 单元 (compound, building, unit).");
                }
                s
            }
            SheetError::DuplicateHeader { header } => format!("Column \"{header}\" appears more than once in the header; remove the duplicate."),
            SheetError::TooLarge { limit } => {
                format!("The file is too large: the limit is {} MB. Split it into several files.", limit / (1024 * 1024))
            }
            SheetError::TooManyRows { limit } => format!("The file has too many rows: {limit} at most. Split it into several files."),
            SheetError::Forbidden(d) => d.en.clone(),
            SheetError::RegisteredMeanwhile => "An ID number of the file was registered by someone else during the import; nothing was written. Import again to see the current check results.".into(),
            SheetError::Store(_) => "The database is unavailable; nothing was written. Try again later.".into(),
            SheetError::Write(_) => "Could not build the export file; try again later.".into(),
            SheetError::Internal(_) => "Internal error while processing the file; nothing was written.".into(),
        }
    }

    pub(crate) fn too_large() -> SheetError {
        SheetError::TooLarge { limit: MAX_UPLOAD_BYTES }
    }

    pub(crate) fn too_many_rows() -> SheetError {
        SheetError::TooManyRows { limit: MAX_DATA_ROWS }
    }
}

fn is_place_column(zh: &str) -> bool {
    matches!(Col::from_zh(zh), Some(Col::UnitCode | Col::Compound | Col::Building | Col::Unit))
}
