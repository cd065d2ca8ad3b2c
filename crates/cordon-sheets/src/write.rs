//! Resident export, and the one writer every file of residents goes through (export,
//! benchmarks and tests alike), in the import layout so that a file round-trips.

use crate::columns::{Col, NCOLS};
use crate::{Format, SheetError};
use chrono::{DateTime, Utc};
use cordon_domain::area::{Area, AreaCode, AreaLevel};
use cordon_domain::audit::AuditEntry;
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::{Action, Principal, authorize};
use cordon_store::{RegistryStore, UnitPath};
use serde::Serialize;
use std::collections::HashMap;

/// One resident as a row of the sheet, every cell as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    pub name: String,
    pub id_number: String,
    /// Empty when the resident has no mobile number.
    pub phone: String,
    pub street: String,
    pub community: String,
    pub compound: String,
    pub building: String,
    pub unit: String,
    pub room: String,
    pub unit_code: String,
    pub bedridden: bool,
    pub no_smartphone: bool,
    pub temporary: bool,
}

fn flag(b: bool) -> &'static str {
    if b { "是" } else { "否" }
}

impl ExportRow {
    /// The cells in the order of the header ([`Col::ALL`]).
    fn cells(&self) -> [&str; NCOLS] {
        [
            &self.name,
            &self.id_number,
            &self.phone,
            &self.street,
            &self.community,
            &self.compound,
            &self.building,
            &self.unit,
            &self.room,
            &self.unit_code,
            flag(self.bedridden),
            flag(self.no_smartphone),
            flag(self.temporary),
        ]
    }
}

/// The rows of the active residents among `residents` (moved-out ones are history, not
/// register), with the names of their places from `units`.
pub fn export_rows(residents: &[Resident], units: &[UnitPath]) -> Vec<ExportRow> {
    let by_code: HashMap<&AreaCode, &UnitPath> = units.iter().map(|u| (&u.unit, u)).collect();
    residents
        .iter()
        .filter(|r| r.status == ResidentStatus::Active)
        .map(|r| {
            let path = by_code.get(&r.unit);
            let name_of = |f: fn(&UnitPath) -> &String| path.map(|p| f(p).clone()).unwrap_or_default();
            ExportRow {
                name: r.name.as_str().to_string(),
                id_number: r.id_number.as_str().to_string(),
                phone: r.phone.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default(),
                street: name_of(|p| &p.street),
                community: name_of(|p| &p.community),
                compound: name_of(|p| &p.compound),
                building: name_of(|p| &p.building),
                unit: name_of(|p| &p.unit_name),
                room: r.room.clone(),
                unit_code: r.unit.as_str().to_string(),
                bedridden: r.flags.bedridden,
                no_smartphone: r.flags.no_smartphone,
                temporary: r.flags.temporary,
            }
        })
        .collect()
}

/// Unit paths built from a list of areas (e.g. the generator's batches), for building
/// rows without a store. Units whose ancestors are missing get empty names there.
pub fn unit_paths(areas: &[Area]) -> Vec<UnitPath> {
    let names: HashMap<&str, &str> = areas.iter().map(|a| (a.code.as_str(), a.name.as_str())).collect();
    let mut out: Vec<UnitPath> = areas
        .iter()
        .filter(|a| a.code.level() == AreaLevel::Unit)
        .map(|a| {
            let name_at = |level: AreaLevel| {
                let prefix = a.code.as_str().get(..level.code_len()).unwrap_or("");
                names.get(prefix).map(|n| n.to_string()).unwrap_or_default()
            };
            UnitPath {
                unit: a.code.clone(),
                street: name_at(AreaLevel::Street),
                community: name_at(AreaLevel::Community),
                compound: name_at(AreaLevel::Compound),
                building: name_at(AreaLevel::Building),
                unit_name: a.name.clone(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.unit.cmp(&b.unit));
    out
}

/// Writes rows as a workbook or a CSV file with the import headers.
pub fn write_rows(rows: &[ExportRow], format: Format) -> Result<Vec<u8>, SheetError> {
    match format {
        Format::Xlsx => write_xlsx(rows).map_err(|e| SheetError::Write(e.to_string())),
        Format::Csv => write_csv(rows),
    }
}

/// Column widths in Excel character units.
fn width(col: Col) -> f64 {
    match col {
        Col::IdNumber => 21.0,
        Col::UnitCode => 23.0,
        Col::Phone => 14.0,
        Col::Compound | Col::Community | Col::Street => 14.0,
        Col::NoSmartphone | Col::Temporary => 11.0,
        _ => 9.0,
    }
}

/// Digits that must stay text: Excel turns an ID number typed into a General cell into
/// `1.41102E+17` and drops what it cannot hold; formatting the column as Text (`@`)
/// protects values the user types or pastes later as well.
fn is_text_column(col: Col) -> bool {
    matches!(col, Col::IdNumber | Col::Phone | Col::Room | Col::UnitCode)
}

fn write_xlsx(rows: &[ExportRow]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format as CellFormat, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("居民")?;
    let bold = CellFormat::new().set_bold();
    let text = CellFormat::new().set_num_format("@");
    let bold_text = CellFormat::new().set_bold().set_num_format("@");
    for col in Col::ALL {
        let c = col.idx() as u16;
        sheet.set_column_width(c, width(col))?;
        if is_text_column(col) {
            sheet.set_column_format(c, &text)?;
            sheet.write_string_with_format(0, c, col.zh(), &bold_text)?;
        } else {
            sheet.write_string_with_format(0, c, col.zh(), &bold)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    for (i, row) in rows.iter().enumerate() {
        let r = (i + 1) as u32;
        for (col, value) in Col::ALL.into_iter().zip(row.cells()) {
            if value.is_empty() {
                continue;
            }
            let c = col.idx() as u16;
            if is_text_column(col) {
                sheet.write_string_with_format(r, c, value, &text)?;
            } else {
                sheet.write_string(r, c, value)?;
            }
        }
    }
    book.save_to_buffer()
}

/// UTF-8 with a byte-order mark: without it Excel opens a CSV in the local code page and
/// shows the Chinese as mojibake.
fn write_csv(rows: &[ExportRow]) -> Result<Vec<u8>, SheetError> {
    let mut out = Vec::with_capacity(3 + 128 * (rows.len() + 1));
    out.extend_from_slice(b"\xEF\xBB\xBF");
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    let err = |e: csv::Error| SheetError::Write(e.to_string());
    w.write_record(Col::ALL.map(Col::zh)).map_err(err)?;
    for row in rows {
        w.write_record(row.cells()).map_err(err)?;
    }
    w.into_inner().map_err(|e| SheetError::Write(e.to_string()))
}

/// Exports the active residents under `root` in the import layout, and audits it.
///
/// The audit entry (`residents.export`, the area, the count) is written before the file
/// is handed back: an export that cannot be audited does not happen.
pub async fn export_residents(
    store: &dyn RegistryStore,
    who: &Principal,
    root: &AreaCode,
    format: Format,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, SheetError> {
    authorize(who, Action::ExportResidents, Some(root))?;
    let roots = std::slice::from_ref(root);
    let residents = store.residents_under(roots).await?;
    let units = store.units_under(roots).await?;
    let rows = export_rows(&residents, &units);
    drop(residents);
    let count = rows.len();
    let bytes = tokio::task::spawn_blocking(move || write_rows(&rows, format))
        .await
        .map_err(|e| SheetError::Internal(e.to_string()))??;
    store
        .append_audit(&[AuditEntry {
            at: now,
            actor_id: Some(who.user_id),
            actor: who.username.clone(),
            role: Some(who.role),
            action: "residents.export".into(),
            target_kind: "area".into(),
            target: root.as_str().to_string(),
            request_id: request_id.into(),
            detail: format!("{count} residents ({format})"),
        }])
        .await?;
    Ok(bytes)
}
