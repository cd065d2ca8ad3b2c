//! Import and export against an in-memory store that implements just what this crate
//! calls. The same behaviour is tested against SQLite in `crates/cordon/tests/it/sheets.rs`.

use super::*;
use async_trait::async_trait;
use chrono::TimeZone;
use cordon_domain::area::{Area, AreaCode, AreaLevel};
use cordon_domain::audit::{AuditEntry, AuditRecord};
use cordon_domain::registry::{BuildingLeader, Correction, Grid, NewResident, Resident, ResidentStatus};
use cordon_domain::synth::{Batch, GenParams, generate};
use cordon_domain::{IdNumber, Principal, Role};
use cordon_store::prelude::*;
use cordon_store::*;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Mem {
    areas: Vec<Area>,
    residents: Mutex<Vec<Resident>>,
    audit: Mutex<Vec<AuditEntry>>,
    register_calls: Mutex<usize>,
}

impl Mem {
    fn district(with_residents: bool) -> Mem {
        let mut batches: Vec<Batch> = Vec::new();
        let _ = generate::<()>(&GenParams::new(600, 42), |b| {
            batches.push(b);
            Ok(())
        });
        let mut m = Mem::default();
        for b in batches {
            m.areas.extend(b.areas);
            if with_residents {
                m.residents.get_mut().unwrap().extend(b.residents);
            }
        }
        m
    }
    fn covers(roots: &[AreaCode], c: &AreaCode) -> bool {
        roots.iter().any(|r| r.contains(c))
    }
    fn first(&self, level: AreaLevel) -> AreaCode {
        self.areas.iter().find(|a| a.code.level() == level).unwrap().code.clone()
    }
}

/// A test double: only the registry methods import and export call are real; the rest
/// are never reached from this crate.
#[async_trait]
impl RegistryStore for Mem {
    fn backend(&self) -> &'static str {
        "memory"
    }
    async fn migrate(&self) -> cordon_store::Result<()> {
        Ok(())
    }
    async fn load_batch(&self, _: &Batch) -> cordon_store::Result<()> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn finish_load(&self) -> cordon_store::Result<()> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn area(&self, code: &AreaCode) -> cordon_store::Result<Option<Area>> {
        Ok(self.areas.iter().find(|a| &a.code == code).cloned())
    }
    async fn area_summary(&self, _: &AreaCode) -> cordon_store::Result<Option<AreaSummary>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn children(&self, _: &AreaCode) -> cordon_store::Result<Vec<AreaSummary>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn units_under(&self, roots: &[AreaCode]) -> cordon_store::Result<Vec<UnitPath>> {
        let mut u = unit_paths(&self.areas);
        u.retain(|p| Mem::covers(roots, &p.unit));
        Ok(u)
    }
    async fn resident(&self, _: i64) -> cordon_store::Result<Option<Resident>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn search_residents(&self, _: &[AreaCode], _: &ResidentQuery, _: u32) -> cordon_store::Result<Vec<Resident>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn building_roster(&self, _: &AreaCode) -> cordon_store::Result<Vec<RosterHousehold>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn residents_under(&self, roots: &[AreaCode]) -> cordon_store::Result<Vec<Resident>> {
        let mut r: Vec<Resident> =
            self.residents.lock().unwrap().iter().filter(|r| Mem::covers(roots, &r.unit)).cloned().collect();
        r.sort_by(|a, b| (&a.unit, &a.room, a.id).cmp(&(&b.unit, &b.room, b.id)));
        Ok(r)
    }
    async fn existing_id_numbers(&self, ids: &[IdNumber]) -> cordon_store::Result<Vec<IdNumber>> {
        let have = self.residents.lock().unwrap();
        Ok(ids.iter().filter(|i| have.iter().any(|r| &r.id_number == *i)).cloned().collect())
    }
    async fn register_residents(&self, new: &[NewResident], audit: &AuditEntry) -> cordon_store::Result<Vec<i64>> {
        *self.register_calls.lock().unwrap() += 1;
        let mut have = self.residents.lock().unwrap();
        if new.iter().any(|n| have.iter().any(|r| r.id_number == n.id_number)) {
            return Err(StoreError::Conflict { code: "id_number_exists", message: "exists".into() });
        }
        let mut ids = Vec::new();
        let mut households: HashMap<(AreaCode, String), i64> = HashMap::new();
        for n in new {
            let id = have.len() as i64 + 1_000_000;
            let next = households.len() as i64 + 1;
            let hh = *households.entry((n.unit.clone(), n.room.clone())).or_insert(next);
            have.push(Resident {
                id,
                household_id: hh,
                unit: n.unit.clone(),
                room: n.room.clone(),
                name: n.name.clone(),
                id_number: n.id_number.clone(),
                phone: n.phone.clone(),
                flags: n.flags,
                status: ResidentStatus::Active,
            });
            ids.push(id);
        }
        self.audit.lock().unwrap().push(audit.clone());
        Ok(ids)
    }
    async fn residents_by_id_numbers(&self, ids: &[IdNumber]) -> cordon_store::Result<Vec<Resident>> {
        let have = self.residents.lock().unwrap();
        Ok(have.iter().filter(|r| ids.contains(&r.id_number)).cloned().collect())
    }
    async fn apply_roster(
        &self,
        write: &cordon_store::roster::RosterWrite,
        audit: &[AuditEntry],
    ) -> cordon_store::Result<Vec<i64>> {
        *self.register_calls.lock().unwrap() += 1;
        let mut have = self.residents.lock().unwrap();
        if write.added.iter().any(|n| have.iter().any(|r| r.id_number == n.id_number)) {
            return Err(StoreError::Conflict { code: "id_number_exists", message: "exists".into() });
        }
        let mut ids = Vec::new();
        for n in &write.added {
            let id = have.len() as i64 + 1_000_000;
            have.push(Resident {
                id,
                household_id: 0,
                unit: n.unit.clone(),
                room: n.room.clone(),
                name: n.name.clone(),
                id_number: n.id_number.clone(),
                phone: n.phone.clone(),
                flags: n.flags,
                status: ResidentStatus::Active,
            });
            ids.push(id);
        }
        for (id, n) in &write.updated {
            let r = have.iter_mut().find(|r| r.id == *id).ok_or(StoreError::NotFound("resident"))?;
            (r.unit, r.room, r.name, r.phone, r.flags) =
                (n.unit.clone(), n.room.clone(), n.name.clone(), n.phone.clone(), n.flags);
            r.status = ResidentStatus::Active;
        }
        for id in &write.moved_out {
            if let Some(r) = have.iter_mut().find(|r| r.id == *id) {
                r.status = ResidentStatus::MovedOut;
            }
        }
        self.audit.lock().unwrap().extend_from_slice(audit);
        Ok(ids)
    }
    async fn correct_resident(&self, _: i64, _: &Correction, _: &AuditEntry) -> cordon_store::Result<Resident> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn grid(&self, _: i64) -> cordon_store::Result<Option<Grid>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn grids_under(&self, _: &AreaCode) -> cordon_store::Result<Vec<Grid>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn building_leader(&self, _: &AreaCode) -> cordon_store::Result<Option<BuildingLeader>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn create_user(&self, _: &NewUser) -> cordon_store::Result<User> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn user(&self, _: i64) -> cordon_store::Result<Option<User>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn user_by_username(&self, _: &str) -> cordon_store::Result<Option<User>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn users(&self) -> cordon_store::Result<Vec<User>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn set_password(&self, _: i64, _: &str) -> cordon_store::Result<()> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn create_session(&self, _: &Session) -> cordon_store::Result<()> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn session(&self, _: &str, _: DateTime<Utc>) -> cordon_store::Result<Option<Session>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn delete_session(&self, _: &str) -> cordon_store::Result<()> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn create_api_token(&self, _: &str, _: i64, _: &str, _: DateTime<Utc>) -> cordon_store::Result<()> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn login_throttle(
        &self,
        _: cordon_domain::security::ThrottleOp,
        _: &[(cordon_domain::security::ThrottleKind, String)],
        _: DateTime<Utc>,
        _: &cordon_domain::security::SecurityRules,
    ) -> cordon_store::Result<cordon_domain::security::LoginAttempt> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn instance_secret(&self, _: &str, _: &[u8]) -> cordon_store::Result<Vec<u8>> {
        unreachable!("cordon-sheets never calls this")
    }
    async fn append_audit(&self, entries: &[AuditEntry]) -> cordon_store::Result<()> {
        self.audit.lock().unwrap().extend_from_slice(entries);
        Ok(())
    }
    async fn audit_log(&self, _: &AuditFilter) -> cordon_store::Result<Vec<AuditRecord>> {
        unreachable!("cordon-sheets never calls this")
    }
}

use chrono::{DateTime, Utc};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn principal(role: Role, root: &AreaCode) -> Principal {
    Principal { user_id: 7, username: "worker".into(), role, roots: vec![root.clone()], scope_label: String::new() }
}

fn xlsx(header: &[&str], rows: &[Vec<&str>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

fn key(r: &Resident) -> (String, AreaCode, String, String, Option<String>, bool, bool, bool) {
    (
        r.id_number.as_str().to_string(),
        r.unit.clone(),
        r.room.clone(),
        r.name.as_str().to_string(),
        r.phone.as_ref().map(|p| p.as_str().to_string()),
        r.flags.bedridden,
        r.flags.no_smartphone,
        r.flags.temporary,
    )
}

#[tokio::test]
async fn round_trip_both_formats() {
    let full = Mem::district(true);
    let community = full.first(AreaLevel::Community);
    // Mark one resident as moved out: export leaves them out.
    let moved_id = {
        let mut rs = full.residents.lock().unwrap();
        let mut in_community = rs.iter_mut().filter(|r| community.contains(&r.unit));
        let r = in_community.next().unwrap();
        r.status = ResidentStatus::MovedOut;
        let moved = r.id_number.as_str().to_string();
        in_community.nth(2).unwrap().flags.temporary = true;
        in_community.next().unwrap().flags.bedridden = true;
        in_community.next().unwrap().phone = None;
        moved
    };
    let who = principal(Role::CommunityWorker, &community);
    for format in [Format::Xlsx, Format::Csv] {
        let bytes = export_residents(&full, &who, &community, format, "req-e", now()).await.unwrap();
        let fresh = Mem::district(false);
        let report =
            import_residents(&fresh, &who, &bytes, format, ImportMode::AllOrNothing, "req-i", now()).await.unwrap();
        assert!(report.errors.is_empty(), "{format}: {:?}", report.errors);
        assert!(report.committed);
        let mut want: Vec<_> = full
            .residents_under(std::slice::from_ref(&community))
            .await
            .unwrap()
            .iter()
            .filter(|r| r.status == ResidentStatus::Active)
            .map(key)
            .collect();
        let mut got: Vec<_> = fresh.residents.lock().unwrap().iter().map(key).collect();
        want.sort();
        got.sort();
        assert!(!want.is_empty());
        assert!(!got.iter().any(|k| k.0 == moved_id));
        assert_eq!(report.imported, want.len());
        assert_eq!(got, want, "{format}");
        let audit = fresh.audit.lock().unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "residents.import");
        assert_eq!(audit[0].target, community.as_str());
        assert_eq!(
            audit[0].detail,
            format!(
                "imported {} of {} rows (all_or_nothing); updated 0, moved out 0, unchanged 0",
                want.len(),
                want.len()
            )
        );
    }
    let audit = full.audit.lock().unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|a| a.action == "residents.export" && a.target == community.as_str()));
}

fn id(region: u32, y: i32, m: u32, d: u32, seq: u32) -> String {
    IdNumber::from_parts(region, chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap(), seq).unwrap().as_str().to_string()
}

#[tokio::test]
async fn every_bad_field_is_reported_and_nothing_written() {
    let store = Mem::district(true);
    let community = store.first(AreaLevel::Community);
    let units = store.units_under(std::slice::from_ref(&community)).await.unwrap();
    let u = &units[0];
    let registered = store.residents.lock().unwrap()[0].id_number.as_str().to_string();
    let good = id(141102, 1980, 5, 6, 11);
    let good2 = id(141102, 1990, 1, 2, 22);
    let full_width: String = id(141102, 1975, 7, 8, 33)
        .chars()
        .map(|c| if c.is_ascii_digit() { char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap() } else { c })
        .collect();
    let mut bad_check = good2.clone().into_bytes();
    bad_check[17] = if bad_check[17] == b'1' { b'2' } else { b'1' };
    let bad_check = String::from_utf8(bad_check).unwrap();
    let code = u.unit.as_str();
    let header = ["姓名", "ID Number", "手机号", "小区", "楼栋", "单元", "房号", "单元编码", "卧床"];
    let rows = vec![
        vec!["张三", good.as_str(), "13812345678", "", "", "", "101", code, "否"],
        vec!["李四", full_width.as_str(), "", &u.compound, &u.building, &u.unit_name, "102", "", ""],
        vec!["王五", bad_check.as_str(), "1234", "", "", "", "", code, "也许"],
        vec!["赵六", good.as_str(), "", "", "", "", "103", code, ""],
        vec!["", registered.as_str(), "", "", "", "", "104", "14110299999999999999", ""],
        vec![],
        vec!["钱七", good2.as_str(), "", "没有这个小区", "1", "1", "105", "", ""],
    ];
    let bytes = xlsx(&header, &rows);
    let before = store.residents.lock().unwrap().len();
    let who = principal(Role::Commander, &AreaCode::parse("141102").unwrap());
    let report =
        import_residents(&store, &who, &bytes, Format::Xlsx, ImportMode::AllOrNothing, "r", now()).await.unwrap();
    let got: Vec<(usize, &str, &str)> = report.errors.iter().map(|e| (e.row, e.column.as_str(), e.code)).collect();
    assert_eq!(
        got,
        vec![
            (4, "ID Number", "id_number_checksum"),
            (4, "手机号", "phone_format"),
            (4, "房号", "room_missing"),
            (4, "卧床", "flag_format"),
            (5, "ID Number", "id_number_duplicate"),
            (6, "姓名", "name_missing"),
            (6, "单元编码", "unit_code_unknown"),
            (8, "小区", "compound_unknown"),
        ]
    );
    assert_eq!(report.errors[4].zh, "身份证号与第2行重复");
    assert_eq!((report.rows, report.bad_rows, report.imported, report.committed), (6, 4, 0, false));
    assert_eq!(store.residents.lock().unwrap().len(), before);
    assert_eq!(*store.register_calls.lock().unwrap(), 0);
    // No cell content in any message.
    let json = serde_json::to_string(&report.errors).unwrap_or_default();
    for secret in [&good, &registered, &bad_check] {
        assert!(!json.contains(secret.as_str()));
    }

    let report =
        import_residents(&store, &who, &bytes, Format::Xlsx, ImportMode::ValidRowsOnly, "r", now()).await.unwrap();
    assert_eq!((report.imported, report.committed, report.errors.len()), (2, true, 8));
    let rs = store.residents.lock().unwrap();
    assert_eq!(rs.len(), before + 2);
    let new: Vec<&Resident> = rs[before..].iter().collect();
    assert_eq!(new[0].id_number.as_str(), good);
    assert_eq!(new[0].phone.as_ref().unwrap().as_str(), "13812345678");
    assert_eq!(new[1].name.as_str(), "李四");
    assert_eq!(new[1].unit, u.unit);
    assert_eq!(new[1].id_number.as_str(), id(141102, 1975, 7, 8, 33));
    let audit = store.audit.lock().unwrap();
    assert_eq!(
        audit.last().unwrap().detail,
        "imported 2 of 6 rows (valid_rows_only); updated 0, moved out 0, unchanged 0"
    );
    assert_eq!(audit.last().unwrap().actor_id, Some(7));
}

#[tokio::test]
async fn file_level_errors() {
    let store = Mem::district(false);
    let who = principal(Role::Commander, &AreaCode::parse("141102").unwrap());
    let run = |bytes: Vec<u8>, format: Format| {
        let store = &store;
        let who = &who;
        async move { import_residents(store, who, &bytes, format, ImportMode::AllOrNothing, "r", now()).await }
    };
    assert_eq!(run(b"hello".to_vec(), Format::Xlsx).await.unwrap_err().code(), "not_xlsx");
    assert_eq!(run(xlsx(&[], &[]), Format::Xlsx).await.unwrap_err().code(), "file_empty");
    assert_eq!(
        run(xlsx(&["姓名", "身份证号", "房号", "单元编码"], &[]), Format::Xlsx).await.unwrap_err().code(),
        "file_empty"
    );
    assert_eq!(run(b"".to_vec(), Format::Csv).await.unwrap_err().code(), "file_empty");
    let e = run(xlsx(&["姓名", "电话", "小区"], &[vec!["张三"]]), Format::Xlsx).await.unwrap_err();
    match &e {
        SheetError::MissingHeaders { missing, row: 1 } => {
            assert_eq!(missing, &["身份证号", "房号", "楼栋", "单元"])
        }
        other => panic!("{other:?}"),
    }
    assert!(e.zh().contains("身份证号、房号、楼栋、单元"), "{}", e.zh());
    assert!(e.en().contains("身份证号 (id_number)"), "{}", e.en());
    let e = run(xlsx(&["姓名", "身份证号", "房号"], &[vec!["张三"]]), Format::Xlsx).await.unwrap_err();
    assert!(matches!(e, SheetError::MissingHeaders { ref missing, .. } if missing == &["单元编码"]));
    let e = run(xlsx(&["姓名", "身份证号", "身份证号码", "房号", "单元编码"], &[vec!["张三"]]), Format::Xlsx)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "duplicate_header");
    assert_eq!(run("姓名,房号\n".as_bytes().to_vec(), Format::Csv).await.unwrap_err().code(), "missing_headers");
    assert_eq!(run(b"\xd0\xd5\xc3\xfb,a\n".to_vec(), Format::Csv).await.unwrap_err().code(), "csv_not_utf8");
    let big = vec![b'a'; MAX_UPLOAD_BYTES + 1];
    let e = run(big, Format::Csv).await.unwrap_err();
    assert_eq!(e.code(), "file_too_large");
    assert!(e.zh().contains("32 MB") && e.en().contains("32 MB"));
    // A zip that is not a workbook.
    let mut z = rust_xlsxwriter::Workbook::new();
    let _ = z.add_worksheet();
    let mut zip = z.save_to_buffer().unwrap();
    zip.truncate(zip.len() / 2);
    assert_eq!(run(zip, Format::Xlsx).await.unwrap_err().code(), "not_xlsx");
    // Nothing imported, every attempt audited as refused, with counts or a code only.
    let audit = store.audit.lock().unwrap();
    assert!(!audit.is_empty());
    assert!(audit.iter().all(|a| a.action == "residents.import.refused" && a.detail.starts_with("nothing imported")));
}

#[tokio::test]
async fn roles_and_scope() {
    let store = Mem::district(false);
    let communities: Vec<AreaCode> =
        store.areas.iter().filter(|a| a.code.level() == AreaLevel::Community).map(|a| a.code.clone()).collect();
    let (mine, other) = (&communities[0], &communities[1]);
    let guard = principal(Role::CheckpointGuard, mine);
    let e = import_residents(&store, &guard, b"", Format::Csv, ImportMode::AllOrNothing, "r", now()).await.unwrap_err();
    assert_eq!(e.code(), "forbidden_role");
    let who = principal(Role::CommunityWorker, mine);
    let e = export_residents(&store, &who, other, Format::Csv, "r", now()).await.unwrap_err();
    assert_eq!(e.code(), "forbidden_scope");

    let other_units = store.units_under(std::slice::from_ref(other)).await.unwrap();
    let my_units = store.units_under(std::slice::from_ref(mine)).await.unwrap();
    let o = &other_units[0];
    let m = &my_units[0];
    let csv = format!(
        "姓名,身份证号,小区,楼栋,单元,房号,单元编码\n张三,{},,,,101,{}\n李四,{},{},{},{},102,\n王五,{},{},{},{},103,{}\n",
        id(141102, 1980, 1, 1, 1),
        o.unit,
        id(141102, 1980, 1, 1, 3),
        o.compound,
        o.building,
        o.unit_name,
        id(141102, 1980, 1, 1, 5),
        m.compound,
        "9号楼以外",
        m.unit_name,
        m.unit,
    );
    let report = import_residents(&store, &who, csv.as_bytes(), Format::Csv, ImportMode::ValidRowsOnly, "r", now())
        .await
        .unwrap();
    let got: Vec<(usize, &str, &str)> = report.errors.iter().map(|e| (e.row, e.column.as_str(), e.code)).collect();
    let second =
        if my_units.iter().any(|u| u.compound == o.compound) { "building_unknown" } else { "compound_unknown" };
    assert_eq!(got[0], (2, "单元编码", "unit_outside_scope"));
    assert_eq!(got[1].0, 3);
    assert!(got[1].2 == second || got[1].2 == "unit_unknown", "{got:?}");
    assert_eq!(got[2], (4, "楼栋", "place_mismatch"));
    assert_eq!(report.imported, 0);
    assert!(!report.committed);
}

#[test]
fn formats() {
    assert_eq!(Format::from_file_name("居民.XLSX"), Some(Format::Xlsx));
    assert_eq!(Format::from_file_name("a.b.csv"), Some(Format::Csv));
    assert_eq!(Format::from_file_name("old.xls"), None);
    assert_eq!(Format::from_file_name("noext"), None);
    assert_eq!("csv".parse::<Format>(), Ok(Format::Csv));
    assert_eq!("valid-rows-only".parse::<ImportMode>(), Ok(ImportMode::ValidRowsOnly));
    assert_eq!(ImportMode::default(), ImportMode::AllOrNothing);
}

#[test]
fn unit_paths_name_every_level() {
    let store = Mem::district(false);
    let paths = unit_paths(&store.areas);
    assert!(!paths.is_empty());
    let p = &paths[0];
    assert!(p.street.ends_with("街道") && p.community.ends_with("社区"));
    assert!(p.building.ends_with("号楼") && p.unit_name.ends_with("单元"));
}

#[tokio::test]
async fn numbers_and_english_headers() {
    let store = Mem::district(false);
    let community = store.first(AreaLevel::Community);
    let u = store.units_under(std::slice::from_ref(&community)).await.unwrap().remove(0);
    let good = id(141102, 1905, 1, 1, 1);
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in
        ["Name", "ID Number", "Phone", "Room", "Unit Code", "Compound", "Building", "Unit", "备注"].iter().enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    // Typed into General cells: Excel stores these as numbers.
    sheet.write_string(1, 0, "张三").unwrap();
    sheet.write_string(1, 1, &good).unwrap();
    sheet.write_number(1, 2, 13812345678.0).unwrap();
    sheet.write_number(1, 3, 1203.0).unwrap();
    sheet.write_string(1, 5, &u.compound).unwrap();
    sheet.write_number(1, 6, u.building.trim_end_matches("号楼").parse::<f64>().unwrap()).unwrap();
    sheet.write_string(1, 7, &u.unit_name).unwrap();
    sheet.write_string(2, 0, "李四").unwrap();
    sheet.write_number(2, 1, 141102190501010011.0).unwrap();
    sheet.write_number(2, 3, 101.0).unwrap();
    sheet.write_number(2, 4, 14110200100100100101.0).unwrap();
    // A row with only an ignored column filled in is blank.
    sheet.write_string(3, 8, "备注而已").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let who = principal(Role::CommunityWorker, &community);
    let report =
        import_residents(&store, &who, &bytes, Format::Xlsx, ImportMode::ValidRowsOnly, "r", now()).await.unwrap();
    let got: Vec<(usize, &str, &str)> = report.errors.iter().map(|e| (e.row, e.column.as_str(), e.code)).collect();
    assert_eq!(got, vec![(3, "ID Number", "id_number_as_number"), (3, "Unit Code", "number_too_long")]);
    assert_eq!((report.rows, report.imported), (2, 1));
    let rs = store.residents.lock().unwrap();
    assert_eq!((rs[0].room.as_str(), rs[0].phone.as_ref().unwrap().as_str()), ("1203", "13812345678"));
    assert_eq!(rs[0].unit, u.unit);
}
