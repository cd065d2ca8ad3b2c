//! Resident import and export (`cordon-sheets`) against a real SQLite store: round trips
//! in both formats, the error report of a file with every kind of bad row (snapshot),
//! both import modes, file-level errors, scope, and the audit records.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::registry::{Resident, ResidentStatus};
use cordon_domain::synth::Batch;
use cordon_domain::{IdNumber, Principal, Role};
use cordon_sheets::{
    Format, ImportMode, ImportReport, MAX_UPLOAD_BYTES, SheetError, export_residents, import_residents,
};
use cordon_sqlite::SqliteStore;
use cordon_store::conformance::District;
use cordon_store::prelude::*;
use cordon_store::{AuditFilter, UnitPath};
use serde::Serialize;

struct Fixture {
    store: SqliteStore,
    district: District,
    _dir: tempfile::TempDir,
}

/// A fresh SQLite store with the generated district (600 residents, seed 42); with
/// `residents == false` only its area tree.
async fn fixture(residents: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("sheets.db")).unwrap();
    store.migrate().await.unwrap();
    let (district, batches) = District::generate();
    for b in batches {
        let b = if residents { b } else { Batch { areas: b.areas, ..Batch::default() } };
        store.load_batch(&b).await.unwrap();
    }
    store.finish_load().await.unwrap();
    Fixture { store, district, _dir: dir }
}

impl Fixture {
    fn communities(&self) -> Vec<AreaCode> {
        self.district.level(AreaLevel::Community).iter().map(|a| a.code.clone()).collect()
    }

    async fn units(&self, root: &AreaCode) -> Vec<UnitPath> {
        self.store.units_under(std::slice::from_ref(root)).await.unwrap()
    }

    async fn residents(&self, root: &AreaCode) -> Vec<Resident> {
        self.store.residents_under(std::slice::from_ref(root)).await.unwrap()
    }

    async fn audit(&self, action: &str) -> Vec<cordon_domain::audit::AuditRecord> {
        let filter = AuditFilter { action: Some(action.into()), limit: 100, ..AuditFilter::default() };
        self.store.audit_log(&filter).await.unwrap()
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap()
}

fn principal(role: Role, root: &AreaCode) -> Principal {
    Principal { user_id: 42, username: "shequ01".into(), role, roots: vec![root.clone()], scope_label: String::new() }
}

/// An ID number nobody in the generated district has (born 1905).
fn new_id(seq: u32) -> String {
    IdNumber::from_parts(141102, NaiveDate::from_ymd_opt(1905, 3, 4).unwrap(), seq).unwrap().as_str().to_string()
}

fn xlsx(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r as u32 + 1, c as u16, v.as_str()).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

/// What a round trip must preserve of a resident.
fn essence(r: &Resident) -> (String, AreaCode, String, String, Option<String>, (bool, bool, bool)) {
    (
        r.id_number.as_str().to_string(),
        r.unit.clone(),
        r.room.clone(),
        r.name.as_str().to_string(),
        r.phone.as_ref().map(|p| p.as_str().to_string()),
        (r.flags.bedridden, r.flags.no_smartphone, r.flags.temporary),
    )
}

async fn round_trip(format: Format) {
    let full = fixture(true).await;
    let community = full.communities()[1].clone();
    let who = principal(Role::CommunityWorker, &community);
    let bytes = export_residents(&full.store, &who, &community, format, "req-export", now()).await.unwrap();

    let empty = fixture(false).await;
    let report = import_residents(&empty.store, &who, &bytes, format, ImportMode::AllOrNothing, "req-import", now())
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{format}: {:#?}", report.errors);

    let mut want: Vec<_> =
        full.residents(&community).await.iter().filter(|r| r.status == ResidentStatus::Active).map(essence).collect();
    let mut got: Vec<_> = empty.residents(&community).await.iter().map(essence).collect();
    want.sort();
    got.sort();
    assert!(want.len() > 50, "a community of the test district has residents");
    assert!(want.iter().any(|w| w.4.is_none()) || want.iter().all(|w| w.4.is_some()));
    assert_eq!((report.rows, report.imported, report.committed), (want.len(), want.len(), true));
    assert_eq!(got, want, "{format}: the import of an export is the register it came from");

    let exported = full.audit("residents.export").await;
    assert_eq!(exported.len(), 1);
    let e = &exported[0].entry;
    assert_eq!((e.target_kind.as_str(), e.target.as_str()), ("area", community.as_str()));
    assert_eq!((e.actor.as_str(), e.actor_id, e.request_id.as_str()), ("shequ01", Some(42), "req-export"));
    assert_eq!(e.detail, format!("{} residents ({format})", want.len()));
    let imported = empty.audit("residents.import").await;
    assert_eq!(imported.len(), 1);
    assert_eq!(
        imported[0].entry.detail,
        format!("imported {0} of {0} rows (all_or_nothing); updated 0, moved out 0, unchanged 0", want.len())
    );
    assert_eq!(imported[0].entry.target, community.as_str());
}

#[tokio::test]
async fn round_trip_xlsx() {
    round_trip(Format::Xlsx).await;
}

#[tokio::test]
async fn round_trip_csv() {
    round_trip(Format::Csv).await;
}

#[tokio::test]
async fn export_leaves_out_moved_out_residents() {
    let f = fixture(true).await;
    let community = f.communities()[0].clone();
    let moved: Vec<String> = f
        .district
        .residents
        .iter()
        .filter(|r| community.contains(&r.unit) && r.status == ResidentStatus::MovedOut)
        .map(|r| r.id_number.as_str().to_string())
        .collect();
    let who = principal(Role::Commander, &AreaCode::parse("141102").unwrap());
    let bytes = export_residents(&f.store, &who, &community, Format::Csv, "r", now()).await.unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with(
        "\u{feff}姓名,身份证号,手机号,街道,社区,小区,楼栋,单元,房号,单元编码,卧床,无智能手机,临时居住\r\n"
    ));
    let active = f.residents(&community).await.iter().filter(|r| r.status == ResidentStatus::Active).count();
    assert_eq!(text.lines().count(), active + 1);
    for id in moved {
        assert!(!text.contains(&id));
    }
}

/// The file of the snapshot: one row of each kind the issue lists, and a few more.
async fn bad_file(f: &Fixture, community: &AreaCode, other: &AreaCode) -> Vec<u8> {
    let units = f.units(community).await;
    let u = &units[0];
    let far = &f.units(other).await[0];
    let registered = f.residents(community).await[0].id_number.as_str().to_string();
    let full_width: String = new_id(2)
        .chars()
        .map(|c| if c.is_ascii_digit() { char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap() } else { c })
        .collect();
    let mut bad_check = new_id(3).into_bytes();
    bad_check[17] = if bad_check[17] == b'1' { b'2' } else { b'1' };
    let bad_check = String::from_utf8(bad_check).unwrap();
    // A valid number ending in X, typed with a lowercase x.
    let with_x = (10..999).map(new_id).find(|s| s.ends_with('X')).unwrap().to_lowercase();
    let unknown_unit = format!("{}99999999", community.as_str());
    let code = u.unit.as_str().to_string();
    let r = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<String>>();
    let (code, unknown_unit, far) = (code.as_str(), unknown_unit.as_str(), far.unit.as_str());
    #[rustfmt::skip]
    let rows: Vec<Vec<String>> = vec![
        // 2: good, placed by code
        r(&["张伟", &new_id(1), "13812345678", "", "", "", "101", code, "否", "", ""]),
        // 3: full-width digits, placed by names: fine
        r(&["李娜", &full_width, "", &u.compound, &u.building, &u.unit_name, "102", "", "是", "Y", "0"]),
        // 4: bad check digit
        r(&["王芳", &bad_check, "", "", "", "", "103", code, "", "", ""]),
        // 5: same ID number as row 2
        r(&["赵强", &new_id(1), "", "", "", "", "104", code, "", "", ""]),
        // 6: already registered
        r(&["刘洋", &registered, "", "", "", "", "105", code, "", "", ""]),
        // 7: bad phone
        r(&["陈静", &new_id(4), "1381234567", "", "", "", "106", code, "", "", ""]),
        // 8: unknown unit code
        r(&["杨磊", &new_id(5), "", "", "", "", "107", unknown_unit, "", "", ""]),
        // 9: missing room
        r(&["黄敏", &new_id(6), "", "", "", "", "", code, "", "", ""]),
        // 10: several problems in one row
        r(&["周7", "1411021905", "138-1234-5678", "", "", "", "10 8", "", "可能", "", ""]),
        // 11: a unit of another community
        r(&["吴刚", &new_id(7), "", "", "", "", "109", far, "", "", ""]),
        // 12: a compound that is not in this community
        r(&["郑丽", &new_id(8), "", "不存在花园", "1号楼", "1单元", "110", "", "", "", ""]),
        // 13: lowercase x: fine
        r(&["孙杰", &with_x, "+86 139 0000 1111", "", "", "", "111", code, "", "", ""]),
        // 14: names that contradict the unit code
        r(&["马超", &new_id(9), "", "", "999号楼", "", "112", code, "", "", ""]),
    ];
    let header =
        ["姓名", "身份证号", "手机号", "小区", "楼栋", "单元", "房号", "单元编码", "卧床", "No Smartphone", "临时居住"];
    xlsx(&header, &rows)
}

#[tokio::test]
async fn import_error_report() {
    let f = fixture(true).await;
    let communities = f.communities();
    let (community, other) = (&communities[0], &communities[1]);
    let bytes = bad_file(&f, community, other).await;
    let who = principal(Role::CommunityWorker, community);
    let before = f.residents(community).await.len();

    let report =
        import_residents(&f.store, &who, &bytes, Format::Xlsx, ImportMode::AllOrNothing, "r1", now()).await.unwrap();
    insta::assert_json_snapshot!("import_error_report", report);
    assert_eq!((report.imported, report.committed), (0, false));
    assert_eq!(f.residents(community).await.len(), before, "all or nothing: nothing written");
    assert!(f.audit("residents.import").await.is_empty());
    // The report never repeats what was in the cells.
    let json = serde_json::to_string(&report).unwrap();
    for id in (1..10).map(new_id) {
        assert!(!json.contains(&id[..10]));
    }
}

#[tokio::test]
async fn valid_rows_only_writes_exactly_the_good_rows() {
    let f = fixture(true).await;
    let communities = f.communities();
    let (community, other) = (&communities[0], &communities[1]);
    let bytes = bad_file(&f, community, other).await;
    let who = principal(Role::CommunityWorker, community);
    let before: Vec<Resident> = f.residents(community).await;

    let report =
        import_residents(&f.store, &who, &bytes, Format::Xlsx, ImportMode::ValidRowsOnly, "r2", now()).await.unwrap();
    assert_eq!((report.rows, report.bad_rows, report.imported, report.committed), (13, 9, 3, true));
    // Row 6 names a registered resident of the community: it updates them.
    assert_eq!((report.updated, report.diff.changed), (1, 1));
    assert_eq!(report.diff.changes[0].row, 6);
    let after = f.residents(community).await;
    let mut new: Vec<&Resident> = after.iter().filter(|r| !before.iter().any(|b| b.id == r.id)).collect();
    new.sort_by_key(|r| r.room.clone());
    let got: Vec<(&str, &str, Option<&str>, bool)> = new
        .iter()
        .map(|r| (r.name.as_str(), r.room.as_str(), r.phone.as_ref().map(|p| p.as_str()), r.flags.bedridden))
        .collect();
    assert_eq!(
        got,
        vec![
            ("张伟", "101", Some("13812345678"), false),
            ("李娜", "102", None, true),
            ("孙杰", "111", Some("13900001111"), false)
        ]
    );
    assert_eq!(new[0].id_number.as_str(), new_id(1));
    assert_eq!(new[1].id_number.as_str(), new_id(2), "full-width digits normalised");
    assert!(new[2].id_number.as_str().ends_with('X'), "lowercase x normalised");
    assert!(new[1].flags.no_smartphone && !new[1].flags.temporary);
    assert_eq!(after.len(), before.len() + 3);

    let audit = f.audit("residents.import").await;
    assert_eq!(audit.len(), 1);
    let e = &audit[0].entry;
    assert_eq!(e.detail, "imported 3 of 13 rows (valid_rows_only); updated 1, moved out 0, unchanged 0");
    assert_eq!((e.target_kind.as_str(), e.target.as_str(), e.request_id.as_str()), ("area", community.as_str(), "r2"));
    assert_eq!((e.actor_id, e.role), (Some(42), Some(Role::CommunityWorker)));

    // The same file again: the four are registered as the file says, nothing is written.
    let again =
        import_residents(&f.store, &who, &bytes, Format::Xlsx, ImportMode::ValidRowsOnly, "r3", now()).await.unwrap();
    assert_eq!((again.imported, again.updated, again.committed), (0, 0, false));
    assert_eq!((again.diff.added, again.diff.changed, again.diff.unchanged), (0, 0, 4));
    assert!(!again.errors.iter().any(|e| e.code == "id_number_exists"));
}

#[derive(Serialize)]
struct FileError {
    case: &'static str,
    code: &'static str,
    zh: String,
    en: String,
}

/// A zip archive with one stored file: a valid zip that is not a workbook.
fn zip_with(name: &str, content: &[u8]) -> Vec<u8> {
    let crc = {
        let mut c = 0xFFFF_FFFFu32;
        for b in content {
            c ^= u32::from(*b);
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            }
        }
        !c
    };
    let (n, len) = (name.len() as u16, content.len() as u32);
    let mut z = Vec::new();
    z.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(content);
    let cd_start = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    z.extend_from_slice(&crc.to_le_bytes());
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&[0u8; 12]);
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd_start;
    z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_start.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

#[tokio::test]
async fn file_level_errors() {
    let f = fixture(false).await;
    let community = f.communities()[0].clone();
    let who = principal(Role::CommunityWorker, &community);
    let header_only = xlsx(&["姓名", "身份证号", "房号", "单元编码"], &[]);
    let no_headers = xlsx(&["名称", "证件", "电话", "小区"], &[vec!["张三".into(), new_id(1)]]);
    let fifty_mb = vec![b' '; 50 * 1024 * 1024];
    let cases: Vec<(&'static str, Vec<u8>, Format)> = vec![
        ("text named .xlsx", b"name,id\nzhang,1\n".to_vec(), Format::Xlsx),
        ("zip that is not a workbook", zip_with("readme.txt", b"hello"), Format::Xlsx),
        ("empty xlsx", xlsx(&[], &[]), Format::Xlsx),
        ("header only", header_only, Format::Xlsx),
        ("empty csv", Vec::new(), Format::Csv),
        ("sheet without the required headers", no_headers, Format::Xlsx),
        ("csv in GB18030", b"\xd0\xd5\xc3\xfb,\xc9\xed\xb7\xdd\xd6\xa4\xba\xc5\n".to_vec(), Format::Csv),
        ("xlsx named .csv", xlsx(&["姓名"], &[]), Format::Csv),
        ("50 MB upload", fifty_mb, Format::Csv),
    ];
    let mut seen = Vec::new();
    for (case, bytes, format) in cases {
        let e = import_residents(&f.store, &who, &bytes, format, ImportMode::AllOrNothing, "r", now())
            .await
            .expect_err(case);
        seen.push(FileError { case, code: e.code(), zh: e.zh(), en: e.en() });
    }
    insta::assert_json_snapshot!("import_file_errors", seen);
    assert_eq!(
        seen.iter().map(|s| s.code).collect::<Vec<_>>(),
        vec![
            "not_xlsx",
            "not_xlsx",
            "file_empty",
            "file_empty",
            "file_empty",
            "missing_headers",
            "csv_not_utf8",
            "not_csv",
            "file_too_large"
        ]
    );
    const { assert!(MAX_UPLOAD_BYTES < 50 * 1024 * 1024) };
    assert!(f.residents(&community).await.is_empty());
    assert!(f.audit("residents.import").await.is_empty());
}

#[tokio::test]
async fn scope_and_roles() {
    let f = fixture(true).await;
    let communities = f.communities();
    let (mine, other) = (&communities[0], &communities[1]);
    let worker = principal(Role::CommunityWorker, mine);

    let e = export_residents(&f.store, &worker, other, Format::Xlsx, "r", now()).await.unwrap_err();
    assert!(matches!(e, SheetError::Forbidden(_)));
    assert_eq!(e.code(), "forbidden_scope");
    for role in [Role::BuildingLeader, Role::GridWorker, Role::CheckpointGuard, Role::Volunteer] {
        let who = principal(role, mine);
        let e =
            import_residents(&f.store, &who, b"", Format::Csv, ImportMode::AllOrNothing, "r", now()).await.unwrap_err();
        assert_eq!(e.code(), "forbidden_role", "{role:?}");
        let e = export_residents(&f.store, &who, mine, Format::Csv, "r", now()).await.unwrap_err();
        assert_eq!(e.code(), "forbidden_role", "{role:?}");
    }
    assert!(f.audit("residents.export").await.is_empty());

    // A community worker's file naming a unit of another community, by code and by names.
    let far = &f.units(other).await[0];
    let mine_units = f.units(mine).await;
    let csv = format!(
        "姓名,身份证号,社区,小区,楼栋,单元,房号,单元编码\n张三,{},,,,,101,{}\n李四,{},{},{},{},{},102,\n",
        new_id(1),
        far.unit,
        new_id(2),
        far.community,
        far.compound,
        far.building,
        far.unit_name,
    );
    let report: ImportReport =
        import_residents(&f.store, &worker, csv.as_bytes(), Format::Csv, ImportMode::ValidRowsOnly, "r", now())
            .await
            .unwrap();
    let got: Vec<(usize, &str, &str)> = report.errors.iter().map(|e| (e.row, e.column.as_str(), e.code)).collect();
    let by_names =
        if mine_units.iter().any(|u| u.compound == far.compound) { "place_mismatch" } else { "compound_unknown" };
    let by_names_col = if by_names == "place_mismatch" { "社区" } else { "小区" };
    assert_eq!(got, vec![(2, "单元编码", "unit_outside_scope"), (3, by_names_col, by_names)]);
    assert_eq!(report.errors[0].zh, "该单元不在您的管辖范围内");
    assert!(!report.committed);
    assert!(f.residents(other).await.iter().all(|r| r.id_number.as_str() != new_id(1)));
}
