//! Checking rows: every field of every row with the domain parsers, the row's place
//! resolved to one unit of the caller's scope, and ID numbers repeated within the file.
//!
//! Pure and synchronous: the store is asked for the units beforehand and for already
//! registered ID numbers afterwards, never per row. A row's every problem is reported,
//! not just the first, so a user fixes a file in one pass.

use crate::columns::{Col, NCOLS};
use crate::error::RowError;
use crate::read::{Cell, Sink};
use crate::{MAX_DATA_ROWS, SheetError};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::registry::{NewResident, ResidentFlags, parse_room};
use cordon_domain::{FieldError, IdNumber, PersonName, Phone};
use cordon_store::UnitPath;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap};

/// One data row after checking.
pub(crate) struct Entry {
    pub row: usize,
    /// The row's ID number if it parsed and is the first of its kind in the file:
    /// these are asked of the store.
    pub first_id: Option<IdNumber>,
    /// Set only when every field of the row is good.
    pub resident: Option<NewResident>,
}

/// An error with its sort key (row, then column order; whole-row errors last).
pub(crate) struct Ranked {
    pub rank: usize,
    pub error: RowError,
}

/// Non-blank rows looked at for the header before giving up: title rows (often merged
/// across the sheet), a date line, notes, the upper half of a two-row header.
const HEADER_SEARCH_ROWS: usize = 20;

pub(crate) struct Validator {
    index: AreaIndex,
    /// Position in the file of each column of the layout.
    pos: [Option<usize>; NCOLS],
    /// Header text as written in the file.
    headers: [String; NCOLS],
    /// Rows looked at so far while searching for the header.
    looked: usize,
    /// A row naming 姓名 and 身份证号 but not every required column: the header, or the
    /// upper half of a two-row header whose lower half (小区 / 楼栋 / 单元 under a merged
    /// 住址) is the next row.
    pending: Option<(usize, Vec<String>)>,
    /// The row naming most columns so far, and what it lacks (for the error when no row
    /// is a complete header).
    best: Option<(usize, usize, Vec<String>)>,
    seen: HashMap<IdNumber, usize>,
    pub rows: usize,
    pub entries: Vec<Entry>,
    pub errors: Vec<Ranked>,
}

type HeaderMap = ([Option<usize>; NCOLS], [String; NCOLS]);

/// Which column of the layout each header cell names.
fn map_header(cells: &[String]) -> Result<HeaderMap, SheetError> {
    let mut pos = [None; NCOLS];
    let mut headers: [String; NCOLS] = Default::default();
    for (i, text) in cells.iter().enumerate() {
        let Some(col) = Col::from_header(text) else {
            continue;
        };
        if pos[col.idx()].is_some() {
            return Err(SheetError::DuplicateHeader { header: text.trim().to_string() });
        }
        pos[col.idx()] = Some(i);
        headers[col.idx()] = text.trim().to_string();
    }
    Ok((pos, headers))
}

/// The required columns a header lacks, by their Chinese names.
fn missing_columns(pos: &[Option<usize>; NCOLS]) -> Vec<String> {
    let has = |c: Col| pos[c.idx()].is_some();
    let mut missing: Vec<String> =
        [Col::Name, Col::IdNumber, Col::Room].into_iter().filter(|c| !has(*c)).map(|c| c.zh().to_string()).collect();
    if !has(Col::UnitCode) {
        let names: Vec<Col> = [Col::Compound, Col::Building, Col::Unit].into_iter().filter(|c| !has(*c)).collect();
        if names.len() == 3 {
            missing.push(Col::UnitCode.zh().to_string());
        } else {
            missing.extend(names.iter().map(|c| c.zh().to_string()));
        }
    }
    missing
}

/// A two-row header as one: per column the lower cell where it names a column (小区
/// under 住址), else the upper one (姓名 merged down over both rows).
fn merge_header(upper: &[String], lower: &[String]) -> Vec<String> {
    let width = upper.len().max(lower.len());
    (0..width)
        .map(|i| {
            let up = upper.get(i).map(String::as_str).unwrap_or("");
            let low = lower.get(i).map(String::as_str).unwrap_or("");
            if Col::from_header(low).is_some() || up.trim().is_empty() { low.to_string() } else { up.to_string() }
        })
        .collect()
}

impl Validator {
    pub(crate) fn new(units: Vec<UnitPath>, roots: Vec<AreaCode>) -> Validator {
        Validator {
            index: AreaIndex::new(units, roots),
            pos: [None; NCOLS],
            headers: Default::default(),
            looked: 0,
            pending: None,
            best: None,
            seen: HashMap::new(),
            rows: 0,
            entries: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn take_header(&mut self, (pos, headers): HeaderMap) {
        self.pos = pos;
        self.headers = headers;
    }

    /// Each unit of the scope as 小区 楼栋 单元, for the diff report.
    pub(crate) fn places(&self) -> HashMap<AreaCode, String> {
        self.index
            .paths
            .iter()
            .map(|p| (p.unit.clone(), format!("{} {} {}", p.compound, p.building, p.unit_name)))
            .collect()
    }

    /// The header of column `c` as written in the file (`""` if absent).
    pub(crate) fn header(&self, c: Col) -> &str {
        &self.headers[c.idx()]
    }

    fn has(&self, c: Col) -> bool {
        self.pos[c.idx()].is_some()
    }

    fn push(&mut self, row: usize, col: Option<Col>, code: &'static str, zh: String, en: String) {
        let (rank, column) = match col {
            Some(c) => (c.idx(), self.headers[c.idx()].clone()),
            None => (NCOLS, String::new()),
        };
        self.errors.push(Ranked { rank, error: RowError { row, column, code, zh, en } });
    }

    fn push_field(&mut self, row: usize, col: Col, e: FieldError) {
        self.push(row, Some(col), e.code, e.zh, e.en);
    }

    /// Runs `parse` on the cell unless it is a number that lost digits.
    fn field<T>(
        &mut self,
        row: usize,
        col: Col,
        cell: CellRef<'_>,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        if cell.lossy {
            self.push_field(row, col, lossy(col));
            return None;
        }
        match parse(cell.text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push_field(row, col, e);
                None
            }
        }
    }
}

#[derive(Clone, Copy)]
struct CellRef<'a> {
    text: &'a str,
    lossy: bool,
}

impl CellRef<'_> {
    fn is_blank(&self) -> bool {
        !self.lossy && self.text.is_empty()
    }
}

fn cell_at<'a>(pos: &[Option<usize>; NCOLS], cells: &'a [Cell], col: Col) -> CellRef<'a> {
    match pos[col.idx()].and_then(|i| cells.get(i)) {
        Some(c) => CellRef { text: c.text.trim(), lossy: c.lossy },
        None => CellRef { text: "", lossy: false },
    }
}

impl Sink for Validator {
    /// The header is the first row naming every required column, searched for among the
    /// first [`HEADER_SEARCH_ROWS`] non-blank rows; rows above it are titles.
    fn header(&mut self, row: usize, cells: &[Cell]) -> Result<bool, SheetError> {
        let texts: Vec<String> = cells.iter().map(|c| c.text.clone()).collect();
        self.looked += 1;
        if let Some((upper_row, upper)) = self.pending.take() {
            let merged = merge_header(&upper, &texts);
            if let Ok(map) = map_header(&merged)
                && missing_columns(&map.0).is_empty()
            {
                self.take_header(map);
                return Ok(true);
            }
            // Not a lower half: the row above was the header, and it lacks columns.
            let map = map_header(&upper)?;
            return Err(SheetError::MissingHeaders { row: upper_row, missing: missing_columns(&map.0) });
        }
        let map = map_header(&texts)?;
        let missing = missing_columns(&map.0);
        if missing.is_empty() {
            self.take_header(map);
            return Ok(true);
        }
        let named = map.0.iter().filter(|p| p.is_some()).count();
        if self.best.as_ref().is_none_or(|(_, n, _)| named > *n) {
            self.best = Some((row, named, missing));
        }
        if map.0[Col::Name.idx()].is_some() && map.0[Col::IdNumber.idx()].is_some() {
            self.pending = Some((row, texts));
            return Ok(false);
        }
        if self.looked >= HEADER_SEARCH_ROWS {
            return self.finish().map(|()| false);
        }
        Ok(false)
    }

    fn finish(&mut self) -> Result<(), SheetError> {
        if let Some((row, upper)) = self.pending.take() {
            let map = map_header(&upper)?;
            return Err(SheetError::MissingHeaders { row, missing: missing_columns(&map.0) });
        }
        match self.best.take() {
            Some((row, _, missing)) if self.pos.iter().all(Option::is_none) => {
                Err(SheetError::MissingHeaders { row, missing })
            }
            _ => Ok(()),
        }
    }

    fn row(&mut self, row: usize, cells: &[Cell]) -> Result<(), SheetError> {
        let pos = self.pos;
        let get = |c: Col| cell_at(&pos, cells, c);
        if Col::ALL.iter().all(|c| get(*c).is_blank()) {
            // Only columns this import ignores are filled in (a remark, a row number).
            return Ok(());
        }
        self.rows += 1;
        if self.rows > MAX_DATA_ROWS {
            return Err(SheetError::too_many_rows());
        }
        let errors_before = self.errors.len();

        let name = self.field(row, Col::Name, get(Col::Name), PersonName::parse);
        let id = self.field(row, Col::IdNumber, get(Col::IdNumber), IdNumber::parse);
        let mut first_id = None;
        if let Some(id) = &id {
            match self.seen.entry(id.clone()) {
                MapEntry::Occupied(first) => {
                    let first = *first.get();
                    self.push(
                        row,
                        Some(Col::IdNumber),
                        "id_number_duplicate",
                        format!("身份证号与第{first}行重复"),
                        format!("same ID number as row {first}"),
                    );
                }
                MapEntry::Vacant(v) => {
                    v.insert(row);
                    first_id = Some(id.clone());
                }
            }
        }
        let phone = self.field(row, Col::Phone, get(Col::Phone), |s| {
            if s.is_empty() { Ok(None) } else { Phone::parse(s).map(Some) }
        });
        let room = self.field(row, Col::Room, get(Col::Room), parse_room);
        let unit = match self.index.resolve(&PlaceInput {
            street: get(Col::Street),
            community: get(Col::Community),
            compound: get(Col::Compound),
            building: get(Col::Building),
            unit: get(Col::Unit),
            unit_code: get(Col::UnitCode),
            has_code: self.has(Col::UnitCode),
        }) {
            Ok(code) => Some(code),
            Err(errs) => {
                for e in errs {
                    self.push(row, Some(e.col), e.code, e.zh, e.en);
                }
                None
            }
        };
        let bedridden = self.field(row, Col::Bedridden, get(Col::Bedridden), |s| parse_flag(s, Col::Bedridden));
        let no_smartphone =
            self.field(row, Col::NoSmartphone, get(Col::NoSmartphone), |s| parse_flag(s, Col::NoSmartphone));
        let temporary = self.field(row, Col::Temporary, get(Col::Temporary), |s| parse_flag(s, Col::Temporary));

        let resident = match (name, &id, phone, room, unit, bedridden, no_smartphone, temporary) {
            (
                Some(name),
                Some(id),
                Some(phone),
                Some(room),
                Some(unit),
                Some(bedridden),
                Some(no_smartphone),
                Some(temporary),
            ) if self.errors.len() == errors_before => Some(NewResident {
                unit,
                room,
                name,
                id_number: id.clone(),
                phone,
                flags: ResidentFlags { bedridden, no_smartphone, temporary },
            }),
            _ => None,
        };
        self.entries.push(Entry { row, first_id, resident });
        Ok(())
    }
}

fn lossy(col: Col) -> FieldError {
    if col == Col::IdNumber {
        FieldError::new(
            "id_number_as_number",
            "id_number",
            "身份证号被存成了数字，末几位已丢失。请把该列设置为“文本”格式后重新填写。",
            "The ID number was stored as a number and has lost its last digits. Format the column as Text and enter it again.",
        )
    } else {
        FieldError::new(
            "number_too_long",
            "cell",
            "该单元格被存成了数字，位数过长已丢失精度。请把该列设置为“文本”格式后重新填写。",
            "This cell was stored as a number too long to keep all its digits. Format the column as Text and enter it again.",
        )
    }
}

/// 是/否, Y/N, yes/no, 1/0, true/false, √/×; empty means no.
fn parse_flag(s: &str, col: Col) -> Result<bool, FieldError> {
    match s.to_lowercase().as_str() {
        "" | "否" | "n" | "no" | "0" | "false" | "f" | "×" | "x" | "无" => Ok(false),
        "是" | "y" | "yes" | "1" | "true" | "t" | "√" | "✓" | "有" => Ok(true),
        _ => Err(FieldError::new(
            "flag_format",
            "flag",
            format!("“{}”应填“是”或“否”（留空表示否）", col.zh()),
            format!("{} must be 是 or 否 (yes/no; empty means no)", col.en()),
        )),
    }
}

struct PlaceInput<'a> {
    street: CellRef<'a>,
    community: CellRef<'a>,
    compound: CellRef<'a>,
    building: CellRef<'a>,
    unit: CellRef<'a>,
    unit_code: CellRef<'a>,
    has_code: bool,
}

struct PlaceError {
    col: Col,
    code: &'static str,
    zh: String,
    en: String,
}

fn place_err(col: Col, code: &'static str, zh: impl Into<String>, en: impl Into<String>) -> PlaceError {
    PlaceError { col, code, zh: zh.into(), en: en.into() }
}

/// The units of the caller's scope, found by code or by names.
struct AreaIndex {
    paths: Vec<UnitPath>,
    roots: Vec<AreaCode>,
    by_code: HashMap<String, usize>,
    by_names: HashMap<(String, String, String), Vec<usize>>,
    /// Display names, for saying which ones exist when a row names one that does not:
    /// the compounds of the scope, the buildings of each compound, the units of each
    /// building (keys normalised as in `by_names`).
    compounds: BTreeMap<String, String>,
    buildings: HashMap<String, BTreeMap<(u32, String), String>>,
    units: HashMap<(String, String), BTreeMap<(u32, String), String>>,
}

/// Names listed in a hint, at most.
const HINT_NAMES: usize = 12;

/// `1号楼、2号楼、3号楼` (`…等20个` beyond [`HINT_NAMES`]), and its English.
fn hint<'a>(names: impl Iterator<Item = &'a String>) -> (String, String) {
    let all: Vec<&String> = names.collect();
    let shown: Vec<&str> = all.iter().take(HINT_NAMES).map(|s| s.as_str()).collect();
    let (mut zh, mut en) = (shown.join("、"), shown.join(", "));
    if all.len() > HINT_NAMES {
        zh.push_str(&format!("等{}个", all.len()));
        en.push_str(&format!(" … ({} in all)", all.len()));
    }
    (zh, en)
}

/// Sorts `3号楼` before `12号楼`: the number of a numbered name first.
fn natural(normalised: &str) -> (u32, String) {
    (normalised.parse::<u32>().unwrap_or(u32::MAX), normalised.to_string())
}

/// Names compare without spaces, case or full-width digits.
fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

const BUILDING_SUFFIXES: &[&str] = &["号楼", "号", "栋", "幢", "楼", "座"];
const UNIT_SUFFIXES: &[&str] = &["单元", "门"];

/// `3号楼`, `3栋` and `3` are the same building; `2单元` and `2` the same unit.
fn norm_numbered(s: &str, suffixes: &[&str]) -> String {
    let n = norm(s);
    for suffix in suffixes {
        match n.strip_suffix(suffix) {
            Some(stem) if !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()) => {
                return stem.to_string();
            }
            _ => {}
        }
    }
    n
}

impl AreaIndex {
    fn new(paths: Vec<UnitPath>, roots: Vec<AreaCode>) -> AreaIndex {
        let mut by_code = HashMap::with_capacity(paths.len());
        let mut by_names: HashMap<(String, String, String), Vec<usize>> = HashMap::with_capacity(paths.len());
        let mut compounds = BTreeMap::new();
        let mut buildings: HashMap<String, BTreeMap<(u32, String), String>> = HashMap::new();
        let mut units: HashMap<(String, String), BTreeMap<(u32, String), String>> = HashMap::new();
        for (i, p) in paths.iter().enumerate() {
            by_code.insert(p.unit.as_str().to_string(), i);
            let c = norm(&p.compound);
            let b = norm_numbered(&p.building, BUILDING_SUFFIXES);
            let u = norm_numbered(&p.unit_name, UNIT_SUFFIXES);
            compounds.entry(c.clone()).or_insert_with(|| p.compound.clone());
            buildings.entry(c.clone()).or_default().entry(natural(&b)).or_insert_with(|| p.building.clone());
            units.entry((c.clone(), b.clone())).or_default().entry(natural(&u)).or_insert_with(|| p.unit_name.clone());
            by_names.entry((c, b, u)).or_default().push(i);
        }
        AreaIndex { paths, roots, by_code, by_names, compounds, buildings, units }
    }

    fn resolve(&self, p: &PlaceInput<'_>) -> Result<AreaCode, Vec<PlaceError>> {
        if p.unit_code.lossy {
            let e = lossy(Col::UnitCode);
            return Err(vec![place_err(Col::UnitCode, e.code, e.zh, e.en)]);
        }
        if !p.unit_code.text.is_empty() {
            return self.by_unit_code(p);
        }
        if p.compound.text.is_empty() && p.building.text.is_empty() && p.unit.text.is_empty() && p.has_code {
            return Err(vec![place_err(
                Col::UnitCode,
                "unit_code_missing",
                "请填写单元编码，或填写小区、楼栋和单元",
                "fill in 单元编码 (unit code), or 小区, 楼栋 and 单元 (compound, building, unit)",
            )]);
        }
        self.by_names(p)
    }

    fn by_unit_code(&self, p: &PlaceInput<'_>) -> Result<AreaCode, Vec<PlaceError>> {
        let code = match AreaCode::parse(p.unit_code.text) {
            Ok(c) if c.level() == AreaLevel::Unit => c,
            _ => {
                return Err(vec![place_err(
                    Col::UnitCode,
                    "unit_code_format",
                    "单元编码应为20位数字",
                    "unit code must be 20 digits",
                )]);
            }
        };
        let Some(&i) = self.by_code.get(code.as_str()) else {
            if self.roots.iter().any(|r| r.contains(&code)) {
                return Err(vec![place_err(
                    Col::UnitCode,
                    "unit_code_unknown",
                    "没有这个单元编码对应的单元",
                    "there is no unit with this code",
                )]);
            }
            // Whether such a unit exists elsewhere is not this caller's business.
            return Err(vec![place_err(
                Col::UnitCode,
                "unit_outside_scope",
                "该单元不在您的管辖范围内",
                "this unit is outside your area",
            )]);
        };
        let path = &self.paths[i];
        // Names given next to the code must agree with it: a mismatch is a typo in one
        // of them, and guessing which would file a family in the wrong building.
        let checks: [(Col, CellRef<'_>, &str, &[&str]); 5] = [
            (Col::Street, p.street, &path.street, &[]),
            (Col::Community, p.community, &path.community, &[]),
            (Col::Compound, p.compound, &path.compound, &[]),
            (Col::Building, p.building, &path.building, BUILDING_SUFFIXES),
            (Col::Unit, p.unit, &path.unit_name, UNIT_SUFFIXES),
        ];
        let mut errors = Vec::new();
        for (col, given, actual, suffixes) in checks {
            if given.is_blank() || norm_numbered(given.text, suffixes) == norm_numbered(actual, suffixes) {
                continue;
            }
            errors.push(place_err(
                col,
                "place_mismatch",
                format!("与单元编码不符：该单元的{}是“{actual}”", col.zh()),
                format!("does not match the unit code: that unit's {} is “{actual}”", col.en()),
            ));
        }
        if errors.is_empty() { Ok(code) } else { Err(errors) }
    }

    fn by_names(&self, p: &PlaceInput<'_>) -> Result<AreaCode, Vec<PlaceError>> {
        let mut errors = Vec::new();
        for (col, cell, code) in [
            (Col::Compound, p.compound, "compound_missing"),
            (Col::Building, p.building, "building_missing"),
            (Col::Unit, p.unit, "unit_missing"),
        ] {
            if cell.is_blank() {
                errors.push(place_err(
                    col,
                    code,
                    format!("{}不能为空（或填写单元编码）", col.zh()),
                    format!("{} is required (or fill in 单元编码, the unit code)", col.en()),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let c = norm(p.compound.text);
        let b = norm_numbered(p.building.text, BUILDING_SUFFIXES);
        let u = norm_numbered(p.unit.text, UNIT_SUFFIXES);
        let key = (c, b, u);
        let Some(candidates) = self.by_names.get(&key) else {
            let (c, b, _) = key;
            let building_names = self.buildings.get(&c);
            let unit_names = self.units.get(&(c.clone(), b.clone()));
            return Err(vec![if building_names.is_none() {
                let (zh, en) = hint(self.compounds.values());
                place_err(
                    Col::Compound,
                    "compound_unknown",
                    if zh.is_empty() {
                        "在您的管辖范围内找不到这个小区".to_string()
                    } else {
                        format!("在您的管辖范围内找不到这个小区。现有小区：{zh}")
                    },
                    if en.is_empty() {
                        "no compound of this name in your area".to_string()
                    } else {
                        format!("no compound of this name in your area; there are: {en}")
                    },
                )
            } else if let Some(units) = unit_names {
                let (zh, en) = hint(units.values());
                place_err(
                    Col::Unit,
                    "unit_unknown",
                    format!("该楼栋中没有这个单元。该楼栋现有单元：{zh}"),
                    format!("the building has no unit of this name; it has: {en}"),
                )
            } else {
                let (zh, en) = hint(building_names.into_iter().flat_map(|b| b.values()));
                place_err(
                    Col::Building,
                    "building_unknown",
                    format!("该小区中没有这个楼栋。该小区现有楼栋：{zh}"),
                    format!("the compound has no building of this name; it has: {en}"),
                )
            }]);
        };
        let community = norm(p.community.text);
        let street = norm(p.street.text);
        let in_community: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| community.is_empty() || norm(&self.paths[*i].community) == community)
            .collect();
        if in_community.is_empty() {
            return Err(vec![place_err(
                Col::Community,
                "place_mismatch",
                "该社区中没有这个小区",
                "the community has no compound of this name",
            )]);
        }
        let found: Vec<usize> =
            in_community.into_iter().filter(|i| street.is_empty() || norm(&self.paths[*i].street) == street).collect();
        match found.as_slice() {
            [i] => Ok(self.paths[*i].unit.clone()),
            [] => Err(vec![place_err(
                Col::Street,
                "place_mismatch",
                "该街道中没有这个小区",
                "the street has no compound of this name",
            )]),
            _ => Err(vec![place_err(
                Col::Compound,
                "place_ambiguous",
                "有多个同名的小区，请填写“社区”或“单元编码”以区分",
                "several compounds have this name; fill in 社区 (community) or 单元编码 (unit code)",
            )]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        for yes in ["是", "Y", "yes", "1", "TRUE", "√"] {
            assert_eq!(parse_flag(yes, Col::Bedridden), Ok(true), "{yes}");
        }
        for no in ["", "否", "n", "No", "0", "false"] {
            assert_eq!(parse_flag(no, Col::Bedridden), Ok(false), "{no}");
        }
        assert_eq!(parse_flag("maybe", Col::Bedridden).unwrap_err().code, "flag_format");
    }

    #[test]
    fn numbered_names() {
        assert_eq!(norm_numbered("3号楼", BUILDING_SUFFIXES), "3");
        assert_eq!(norm_numbered(" ３栋", BUILDING_SUFFIXES), "3");
        assert_eq!(norm_numbered("3", BUILDING_SUFFIXES), "3");
        assert_eq!(norm_numbered("A座", BUILDING_SUFFIXES), "a座");
        assert_eq!(norm_numbered("2单元", UNIT_SUFFIXES), "2");
    }
}
