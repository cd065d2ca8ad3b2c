//! Rosters as community offices send them, on both backends: the re-import round trip
//! (export → edit three rows → preview → apply → exactly those three changed, audited; a
//! deleted row moves out; a stale preview writes nothing) and a roster with a merged
//! title row, blank lines, stray spaces in the headers, its own column order and no unit
//! code, placed by 小区 / 楼栋 / 单元 names.

use chrono::{DateTime, TimeZone, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::registry::{Correction, Resident, ResidentStatus};
use cordon_domain::{Principal, Role};
use cordon_sheets::{ChangedField, Format, ImportMode, ImportOptions, export_residents, import_roster};
use cordon_store::conformance::District;
use cordon_store::{AuditFilter, Store};
use std::collections::BTreeMap;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

fn worker(community: &AreaCode) -> Principal {
    Principal {
        user_id: 42,
        username: "shequ01".into(),
        role: Role::CommunityWorker,
        roots: vec![community.clone()],
        scope_label: String::new(),
    }
}

async fn load(store: &dyn Store) -> District {
    let (district, batches) = District::generate();
    for b in &batches {
        store.load_batch(b).await.unwrap();
    }
    store.finish_load().await.unwrap();
    district
}

fn preview() -> ImportOptions {
    ImportOptions { mode: ImportMode::AllOrNothing, dry_run: true, expect: None, move_out_absent: true }
}

fn apply(fingerprint: &str) -> ImportOptions {
    ImportOptions { dry_run: false, expect: Some(fingerprint.to_string()), ..preview() }
}

async fn by_id(store: &dyn Store, root: &AreaCode) -> BTreeMap<i64, Resident> {
    store.residents_under(std::slice::from_ref(root)).await.unwrap().into_iter().map(|r| (r.id, r)).collect()
}

/// CSV cells of the export (its cells hold no commas or quotes).
fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).unwrap().trim_start_matches('\u{feff}');
    text.lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}

fn write_csv(rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    for r in rows {
        out.push_str(&r.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

pub async fn reimport_round_trip(store: &dyn Store) {
    let district = load(store).await;
    let community = district.level(AreaLevel::Community)[0].code.clone();
    let who = worker(&community);
    let before = by_id(store, &community).await;
    let bytes = export_residents(store, &who, &community, Format::Csv, "req-export", now()).await.unwrap();
    let mut rows = parse_csv(&bytes);
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let (id_col, phone_col, bed_col, unit_col, room_col, building_col, unit_name_col) =
        (col("身份证号"), col("手机号"), col("卧床"), col("单元编码"), col("房号"), col("楼栋"), col("单元"));
    let active = rows.len() - 1;
    assert!(active >= 10, "the community has residents to edit");

    // The export imports back unchanged.
    let report = import_roster(store, &who, &bytes, Format::Csv, &preview(), "req-1", now()).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!((report.diff.added, report.diff.changed, report.diff.moved_out), (0, 0, 0));
    assert_eq!(report.diff.unchanged, active);
    assert!(!report.applicable, "nothing to apply");
    let unchanged_fingerprint = report.fingerprint.clone();

    // Three edits: a new phone, a move to another unit of the community, bedridden.
    let resident_of = |row: &Vec<String>| before.values().find(|r| r.id_number.as_str() == row[id_col]).unwrap().id;
    let (a, b, c) = (1, 2, 3);
    rows[a][phone_col] = if rows[a][phone_col] == "13900000001" { "13900000002".into() } else { "13900000001".into() };
    let units = store.units_under(std::slice::from_ref(&community)).await.unwrap();
    let target = units.iter().find(|u| u.unit.as_str() != rows[b][unit_col]).unwrap();
    rows[b][unit_col] = target.unit.as_str().to_string();
    rows[b][building_col] = target.building.clone();
    rows[b][unit_name_col] = target.unit_name.clone();
    rows[b][room_col] = "9901".into();
    rows[c][bed_col] = if rows[c][bed_col] == "是" { "否".into() } else { "是".into() };
    let edited_ids = [resident_of(&rows[a]), resident_of(&rows[b]), resident_of(&rows[c])];
    let edited = write_csv(&rows);

    let report = import_roster(store, &who, &edited, Format::Csv, &preview(), "req-2", now()).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.preview && !report.committed && report.applicable);
    assert_eq!(
        (report.diff.added, report.diff.changed, report.diff.unchanged, report.diff.moved_out),
        (0, 3, active - 3, 0)
    );
    let fields: Vec<(usize, i64, Vec<ChangedField>)> =
        report.diff.changes.iter().map(|l| (l.row, l.resident_id, l.fields.clone())).collect();
    assert_eq!(
        fields,
        vec![
            (2, edited_ids[0], vec![ChangedField::Phone]),
            (3, edited_ids[1], vec![ChangedField::Place]),
            (4, edited_ids[2], vec![ChangedField::Flags]),
        ]
    );
    assert!(report.diff.changes[1].place.ends_with(" 9901"), "{}", report.diff.changes[1].place);
    assert_eq!(by_id(store, &community).await, before, "a preview writes nothing");
    // ... but is a read of the register, and audited as one.
    let previews = store
        .audit_log(&AuditFilter {
            action: Some("residents.import_preview".into()),
            limit: 50,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(previews.len(), 2);
    assert!(previews[0].entry.detail.contains("changed 3"), "{}", previews[0].entry.detail);

    // Applied with the previewed plan: exactly those three change, each audited.
    let applied =
        import_roster(store, &who, &edited, Format::Csv, &apply(&report.fingerprint), "req-3", now()).await.unwrap();
    assert!(applied.committed && !applied.stale);
    assert_eq!((applied.imported, applied.updated, applied.moved_out), (0, 3, 0));
    let after = by_id(store, &community).await;
    let differing: Vec<i64> = after.keys().filter(|id| after.get(id) != before.get(id)).copied().collect();
    assert_eq!(differing, {
        let mut v = edited_ids.to_vec();
        v.sort();
        v
    });
    assert_eq!(after[&edited_ids[0]].phone.as_ref().unwrap().as_str(), rows[a][phone_col]);
    assert_eq!(after[&edited_ids[1]].unit, target.unit);
    assert_eq!(after[&edited_ids[1]].room, "9901");
    assert_ne!(after[&edited_ids[1]].household_id, before[&edited_ids[1]].household_id);
    assert_eq!(after[&edited_ids[2]].flags.bedridden, rows[c][bed_col] == "是");
    let updates = store
        .audit_log(&AuditFilter { action: Some("resident.update".into()), limit: 50, ..AuditFilter::default() })
        .await
        .unwrap();
    let mut audited: Vec<i64> = updates.iter().map(|r| r.entry.target.parse().unwrap()).collect();
    audited.sort();
    assert_eq!(audited, {
        let mut v = edited_ids.to_vec();
        v.sort();
        v
    });
    assert!(updates.iter().all(|r| r.entry.request_id == "req-3" && r.entry.actor_id == Some(42)));
    assert!(updates.iter().any(|r| r.entry.detail == "roster import: phone"));
    let imports = store
        .audit_log(&AuditFilter { action: Some("residents.import".into()), limit: 50, ..AuditFilter::default() })
        .await
        .unwrap();
    assert_eq!(imports.len(), 1);
    assert_eq!(
        imports[0].entry.detail,
        format!("imported 0 of {active} rows (all_or_nothing); updated 3, moved out 0, unchanged {}", active - 3)
    );
    // No ID number or phone in any audit detail.
    for r in updates.iter().chain(&imports) {
        assert!(!r.entry.detail.contains(&rows[a][phone_col]) && !r.entry.detail.contains(&rows[a][id_col]));
    }

    // The same file again: nothing to do.
    let again = import_roster(store, &who, &edited, Format::Csv, &preview(), "req-4", now()).await.unwrap();
    assert_eq!((again.diff.changed, again.diff.unchanged), (0, active));

    // A row deleted from the file: its resident moves out (the unit is still in the file).
    let gone_row = (4..rows.len())
        .find(|i| rows.iter().skip(1).filter(|r| r[unit_col] == rows[*i][unit_col]).count() > 1)
        .unwrap();
    let gone = resident_of(&rows[gone_row]);
    let mut fewer = rows.clone();
    fewer.remove(gone_row);
    let fewer = write_csv(&fewer);
    let p = import_roster(store, &who, &fewer, Format::Csv, &preview(), "req-5", now()).await.unwrap();
    assert_eq!((p.diff.changed, p.diff.moved_out), (0, 1));
    assert_eq!(p.diff.moved[0].resident_id, gone);
    // Someone corrects the register between preview and apply: the apply writes nothing.
    store
        .correct_resident(
            edited_ids[0],
            &Correction::SetPhone { phone: None },
            &cordon_domain::audit::AuditEntry {
                at: now(),
                actor_id: Some(1),
                actor: "x".into(),
                role: None,
                action: "resident.update".into(),
                target_kind: "resident".into(),
                target: edited_ids[0].to_string(),
                request_id: "req-x".into(),
                detail: "phone -> none".into(),
            },
        )
        .await
        .unwrap();
    let stale = import_roster(store, &who, &fewer, Format::Csv, &apply(&p.fingerprint), "req-6", now()).await.unwrap();
    assert!(stale.stale && !stale.committed);
    assert_eq!((stale.diff.changed, stale.diff.moved_out), (1, 1));
    assert_eq!(by_id(store, &community).await[&gone].status, ResidentStatus::Active);
    let done =
        import_roster(store, &who, &fewer, Format::Csv, &apply(&stale.fingerprint), "req-7", now()).await.unwrap();
    assert!(done.committed);
    assert_eq!(by_id(store, &community).await[&gone].status, ResidentStatus::MovedOut);
    assert_ne!(unchanged_fingerprint, done.fingerprint);

    // A person registered in another community is not taken over.
    let other = district.level(AreaLevel::Community)[1].code.clone();
    let stranger = store.residents_under(std::slice::from_ref(&other)).await.unwrap().remove(0);
    let mut with_stranger = rows.clone();
    let mut row = rows[1].clone();
    row[id_col] = stranger.id_number.as_str().to_string();
    with_stranger.push(row);
    let r =
        import_roster(store, &who, &write_csv(&with_stranger), Format::Csv, &preview(), "req-8", now()).await.unwrap();
    assert_eq!(r.errors.len(), 1);
    assert_eq!((r.errors[0].row, r.errors[0].code), (with_stranger.len(), "id_number_elsewhere"));
    assert!(!r.applicable);
}

pub async fn title_rows_and_blank_lines_import(store: &dyn Store) {
    let district = load(store).await;
    let community = district.level(AreaLevel::Community)[0].code.clone();
    let who = worker(&community);
    let units = store.units_under(std::slice::from_ref(&community)).await.unwrap();
    let (u1, u2) = (&units[0], &units[units.len() - 1]);
    let ids: Vec<String> = (0..3)
        .map(|i| {
            cordon_domain::IdNumber::from_parts(141102, chrono::NaiveDate::from_ymd_opt(1906, 2, 3).unwrap(), 700 + i)
                .unwrap()
                .as_str()
                .to_string()
        })
        .collect();

    // Row 1: a title merged across the sheet; 2: blank; 3: a note; 4: the header, with
    // stray spaces, its own order, no unit code; data from row 5 with a blank line.
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    let fmt = rust_xlsxwriter::Format::new();
    ws.merge_range(0, 0, 0, 7, "某某社区居民花名册（2026年3月）", &fmt).unwrap();
    ws.write_string(2, 0, "填表单位：某某社区居委会").unwrap();
    let header = ["序号", " 楼栋 ", "单元", " 姓 名", "身份证号码 ", "房间号", "联系电话", "小区名称"];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(3, c as u16, *h).unwrap();
    }
    let data: Vec<[&str; 8]> = vec![
        ["1", &u1.building, &u1.unit_name, "周一", &ids[0], "1101", "13811110001", &u1.compound],
        ["2", &u1.building, &u1.unit_name, "吴二", &ids[1], "1102", "", &u1.compound],
        ["3", &u2.building, &u2.unit_name, "郑三", &ids[2], "301", "13811110003", &u2.compound],
    ];
    for (i, row) in data.iter().enumerate() {
        // Rows 5, 6, (7 blank), 8.
        let r = if i < 2 { 4 + i } else { 7 } as u32;
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r, c as u16, *v).unwrap();
            }
        }
    }
    let bytes = book.save_to_buffer().unwrap();
    // A list of newcomers: the others of their units stay.
    let opts = ImportOptions { dry_run: false, move_out_absent: false, ..preview() };
    let report = import_roster(store, &who, &bytes, Format::Xlsx, &opts, "req-t", now()).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!((report.rows, report.imported, report.committed), (3, 3, true));
    assert_eq!(report.moved_out, 0);
    let all = store.residents_under(std::slice::from_ref(&community)).await.unwrap();
    let got = all.iter().find(|r| r.id_number.as_str() == ids[2]).unwrap();
    assert_eq!((got.unit.clone(), got.room.as_str(), got.name.as_str()), (u2.unit.clone(), "301", "郑三"));
    assert!(all.iter().find(|r| r.id_number.as_str() == ids[1]).unwrap().phone.is_none());

    // A two-row header (住址 merged over 小区 / 楼栋 / 单元) and an unknown building,
    // whose error says which buildings the compound has.
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    ws.merge_range(0, 0, 0, 5, "居民信息登记表", &fmt).unwrap();
    ws.merge_range(1, 0, 2, 0, "姓名", &fmt).unwrap();
    ws.merge_range(1, 1, 2, 1, "身份证号", &fmt).unwrap();
    ws.merge_range(1, 2, 1, 4, "住址", &fmt).unwrap();
    ws.merge_range(1, 5, 2, 5, "房号", &fmt).unwrap();
    for (c, h) in [(2, "小区"), (3, "楼栋"), (4, "单元")] {
        ws.write_string(2, c, h).unwrap();
    }
    let id4 =
        cordon_domain::IdNumber::from_parts(141102, chrono::NaiveDate::from_ymd_opt(1906, 2, 3).unwrap(), 800).unwrap();
    for (c, v) in ["王五", id4.as_str(), &u1.compound, "99号楼", &u1.unit_name, "101"].iter().enumerate() {
        ws.write_string(3, c as u16, *v).unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let report = import_roster(store, &who, &bytes, Format::Xlsx, &preview(), "req-u", now()).await.unwrap();
    assert_eq!(report.rows, 1);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let e = &report.errors[0];
    assert_eq!((e.row, e.column.as_str(), e.code), (4, "楼栋", "building_unknown"));
    assert!(e.zh.contains(&u1.building), "{}", e.zh);
    assert!(e.en.contains(&u1.building), "{}", e.en);
}

macro_rules! on_both_backends {
    ($($case:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some((store, _guard)) = crate::conformance_sqlite::make().await else { return };
                    super::$case(&*store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some((store, _guard)) = crate::conformance_pg::make_or_skip().await else { return };
                    super::$case(&*store).await;
                }
            )*
        }
    };
}

on_both_backends!(reimport_round_trip, title_rows_and_blank_lines_import);
