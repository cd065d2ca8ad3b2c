//! The conformance suite: what every [`Store`] backend must do, checked the same way for
//! each. A backend's test harness runs every case with [`conformance_tests!`], handing it
//! a function that makes a freshly migrated, empty store per case.
//!
//! Expected values are computed by brute force from the generated district
//! (`GenParams::new(600, 42)`), never copied from a backend's output, so a case fails
//! when a backend disagrees with the domain, not only when backends disagree.
//!
//! Orders the contract fixes and the suite checks: rooms within a unit sort numerically
//! for the digit-only rooms the generator makes (shorter first, then by text); lists of
//! residents by id unless said otherwise; the audit log newest first. Timestamps passed
//! in have whole microseconds, the precision both backends keep.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{AuditFilter, NewUser, ResidentQuery, Session, Store, StoreError, UnitPath, User};
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::area::{Area, AreaCode, AreaLevel};
use cordon_domain::audit::{AuditEntry, AuditRecord};
use cordon_domain::id_number::IdNumber;
use cordon_domain::name::PersonName;
use cordon_domain::phone::Phone;
use cordon_domain::registry::{
    BuildingLeader, Correction, Grid, Household, NewResident, Resident, ResidentFlags, ResidentStatus,
};
use cordon_domain::role::{Role, UserScope};
use cordon_domain::synth::{Batch, DISTRICT_CODE, GenParams, generate};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Runs every conformance case as its own `#[tokio::test]`.
///
/// `$make` is an async fn returning `Option<(std::sync::Arc<dyn Store>, Guard)>`: a freshly
/// migrated, empty store and anything whose `Drop` cleans it up (a temp dir, a schema).
/// The calling crate needs `tokio` with the `macros` and `rt` features.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@cases $make;
            migrate_is_idempotent,
            area_tree_and_counts,
            units_under_with_names,
            resident_lookup,
            search_residents_in_scope,
            building_roster_order_and_members,
            residents_under_in_order,
            existing_id_numbers,
            register_residents_creates_households_and_audits,
            register_residents_conflict_writes_nothing,
            correct_resident_each_kind,
            grids_and_building_leaders,
            users_and_username_conflict,
            sessions_expire_and_delete,
            api_tokens,
            login_throttle_is_atomic,
            audit_log_filters_and_paging,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                // `None`: the backend is unavailable and the maker has said so (a skip
                // outside CI; under CI=true makers fail instead of returning None).
                let Some((store, _guard)) = $make().await else { return };
                $crate::conformance::$case(&*store).await;
            }
        )*
    };
}

// ---- fixtures -------------------------------------------------------------------------

/// Population and seed of the district every data case loads.
pub const POPULATION: u64 = 600;
pub const SEED: u64 = 42;

/// The generated district, flattened, with brute-force answers to the store's questions.
#[derive(Debug, Clone, Default)]
pub struct District {
    pub areas: Vec<Area>,
    pub households: Vec<Household>,
    pub residents: Vec<Resident>,
    pub grids: Vec<Grid>,
    pub leaders: Vec<BuildingLeader>,
}

impl District {
    pub fn generate() -> (District, Vec<Batch>) {
        let mut batches = Vec::new();
        generate::<()>(&GenParams::new(POPULATION, SEED), |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
        let mut d = District::default();
        for b in &batches {
            d.areas.extend(b.areas.iter().cloned());
            d.households.extend(b.households.iter().cloned());
            d.residents.extend(b.residents.iter().cloned());
            d.grids.extend(b.grids.iter().cloned());
            d.leaders.extend(b.leaders.iter().cloned());
        }
        (d, batches)
    }

    pub fn district(&self) -> AreaCode {
        code(DISTRICT_CODE)
    }

    pub fn level(&self, level: AreaLevel) -> Vec<&Area> {
        self.areas.iter().filter(|a| a.level() == level).collect()
    }

    pub fn name(&self, c: &AreaCode) -> String {
        self.areas.iter().find(|a| &a.code == c).map(|a| a.name.clone()).unwrap_or_default()
    }

    /// (households with an active resident, active residents) under `root`.
    pub fn active_counts(&self, root: &AreaCode) -> (u64, u64) {
        let active: Vec<&Resident> =
            self.residents.iter().filter(|r| root.contains(&r.unit) && r.status == ResidentStatus::Active).collect();
        let households: BTreeSet<i64> = active.iter().map(|r| r.household_id).collect();
        (households.len() as u64, active.len() as u64)
    }

    pub fn under<'a>(&'a self, roots: &'a [AreaCode]) -> impl Iterator<Item = &'a Resident> + 'a {
        self.residents.iter().filter(move |r| roots.iter().any(|root| root.contains(&r.unit)))
    }

    pub fn max_resident_id(&self) -> i64 {
        self.residents.iter().map(|r| r.id).max().unwrap_or(0)
    }

    /// The building whose roster has the most households.
    pub fn busiest_building(&self) -> AreaCode {
        let mut per: BTreeMap<AreaCode, usize> = BTreeMap::new();
        for h in &self.households {
            *per.entry(h.unit.parent().unwrap()).or_default() += 1;
        }
        per.into_iter().max_by_key(|(c, n)| (*n, std::cmp::Reverse(c.clone()))).unwrap().0
    }

    pub fn set(&mut self, r: &Resident) {
        let slot = self.residents.iter_mut().find(|x| x.id == r.id).unwrap();
        *slot = r.clone();
    }
}

/// Loads the district into `store` batch by batch, as the generator hands it out.
pub async fn load_district(store: &dyn Store) -> District {
    let (d, batches) = District::generate();
    for b in &batches {
        store.load_batch(b).await.expect("load_batch");
    }
    store.finish_load().await.expect("finish_load");
    d
}

pub fn code(s: &str) -> AreaCode {
    AreaCode::parse(s).unwrap()
}

/// A fixed instant plus `secs` seconds, with a sub-second part in whole microseconds.
pub fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + secs, 123_456_000).unwrap()
}

/// A valid ID number from region 110101, which the generator never uses.
pub fn fresh_id_number(n: u32) -> IdNumber {
    let birth = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap() + chrono::Days::new(u64::from(n / 400));
    IdNumber::from_parts(110101, birth, n % 400 + 100).unwrap()
}

pub fn audit_entry(n: i64, actor: &str, action: &str, target_kind: &str, target: &str) -> AuditEntry {
    AuditEntry {
        at: t(n),
        actor_id: if n % 3 == 0 { None } else { Some(n) },
        actor: actor.to_string(),
        role: if n % 2 == 0 { Some(Role::CommunityWorker) } else { None },
        action: action.to_string(),
        target_kind: target_kind.to_string(),
        target: target.to_string(),
        request_id: format!("req-{n}"),
        detail: format!("detail {n}"),
    }
}

async fn all_audit(store: &dyn Store) -> Vec<AuditRecord> {
    store.audit_log(&AuditFilter { limit: 10_000, ..AuditFilter::default() }).await.unwrap()
}

/// Roster and export order: unit, then room numerically for digit rooms.
fn room_key(unit: &AreaCode, room: &str) -> (String, usize, String) {
    (unit.as_str().to_string(), room.len(), room.to_string())
}

fn ids(rs: &[Resident]) -> Vec<i64> {
    rs.iter().map(|r| r.id).collect()
}

fn new_resident(unit: &AreaCode, room: &str, name: &str, id: IdNumber, phone: Option<&str>) -> NewResident {
    NewResident {
        unit: unit.clone(),
        room: room.to_string(),
        name: PersonName::parse(name).unwrap(),
        id_number: id,
        phone: phone.map(|p| Phone::parse(p).unwrap()),
        flags: ResidentFlags { bedridden: false, no_smartphone: true, temporary: false },
    }
}

fn new_user(username: &str, role: Role, scope: UserScope) -> NewUser {
    NewUser {
        username: username.to_string(),
        display_name: format!("{username} 显示名"),
        role,
        scope,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${username}"),
        created_at: t(0),
    }
}

fn assert_user_matches(u: &User, n: &NewUser) {
    assert!(u.id > 0);
    assert_eq!(u.username, n.username);
    assert_eq!(u.display_name, n.display_name);
    assert_eq!(u.role, n.role);
    assert_eq!(u.scope, n.scope);
    assert_eq!(u.password_hash, n.password_hash);
    assert_eq!(u.created_at, n.created_at);
}

fn sorted_buildings(mut g: Grid) -> Grid {
    g.buildings.sort();
    g
}

// ---- cases ----------------------------------------------------------------------------

/// Migrating an already migrated store changes nothing and the store still works.
pub async fn migrate_is_idempotent(store: &dyn Store) {
    assert!(["sqlite", "postgres"].contains(&store.backend()));
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    assert!(store.users().await.unwrap().is_empty());
    assert!(all_audit(store).await.is_empty());
    assert_eq!(store.area(&code(DISTRICT_CODE)).await.unwrap(), None);
    let d = load_district(store).await;
    store.migrate().await.expect("migrate after load");
    let summary = store.area_summary(&d.district()).await.unwrap().unwrap();
    assert_eq!(summary.residents, POPULATION);
}

/// area, area_summary and children agree with counts computed from the generated data.
pub async fn area_tree_and_counts(store: &dyn Store) {
    let d = load_district(store).await;
    assert!(d.level(AreaLevel::Street).len() >= 2, "the fixture has several streets");
    for a in &d.areas {
        assert_eq!(store.area(&a.code).await.unwrap().as_ref(), Some(a));
        let s = store.area_summary(&a.code).await.unwrap().expect("summary");
        assert_eq!(&s.area, a);
        assert_eq!((s.households, s.residents), d.active_counts(&a.code), "counts under {}", a.code);

        let mut expected: Vec<&Area> = d.areas.iter().filter(|c| c.code.parent().as_ref() == Some(&a.code)).collect();
        expected.sort_by(|x, y| x.code.cmp(&y.code));
        let children = store.children(&a.code).await.unwrap();
        assert_eq!(children.iter().map(|c| &c.area).collect::<Vec<_>>(), expected, "children of {}", a.code);
        for c in &children {
            assert_eq!((c.households, c.residents), d.active_counts(&c.area.code), "counts under {}", c.area.code);
        }
        if a.level() == AreaLevel::Unit {
            assert!(children.is_empty());
        }
    }
    let root = store.area_summary(&d.district()).await.unwrap().unwrap();
    assert_eq!(root.residents, POPULATION);
    assert_eq!(root.households, d.households.len() as u64);

    let missing = code("141102099");
    assert_eq!(store.area(&missing).await.unwrap(), None);
    assert_eq!(store.area_summary(&missing).await.unwrap(), None);
    assert!(store.children(&missing).await.unwrap().is_empty());
}

/// Every unit under any of the roots, once, ordered by code, with its ancestors' names.
pub async fn units_under_with_names(store: &dyn Store) {
    let d = load_district(store).await;
    let path = |unit: &AreaCode| {
        let l = unit.lineage();
        UnitPath {
            unit: unit.clone(),
            street: d.name(&l[1]),
            community: d.name(&l[2]),
            compound: d.name(&l[3]),
            building: d.name(&l[4]),
            unit_name: d.name(unit),
        }
    };
    let expect = |roots: &[AreaCode]| {
        let mut units: Vec<AreaCode> = d
            .level(AreaLevel::Unit)
            .iter()
            .filter(|u| roots.iter().any(|r| r.contains(&u.code)))
            .map(|u| u.code.clone())
            .collect();
        units.sort();
        units.iter().map(path).collect::<Vec<_>>()
    };

    let all = store.units_under(&[d.district()]).await.unwrap();
    assert_eq!(all.len(), d.level(AreaLevel::Unit).len());
    assert_eq!(all, expect(&[d.district()]));
    assert!(all.iter().all(|u| !u.street.is_empty() && !u.building.is_empty()));

    let communities = d.level(AreaLevel::Community);
    let (a, b) = (communities[0].code.clone(), communities[communities.len() - 1].code.clone());
    let b_building = d.level(AreaLevel::Building).into_iter().find(|x| b.contains(&x.code)).unwrap().code.clone();
    let a_unit = d.level(AreaLevel::Unit).into_iter().find(|x| a.contains(&x.code)).unwrap().code.clone();
    // Overlapping roots (a unit inside community a) must not repeat units.
    let roots = [b_building.clone(), a.clone(), a_unit.clone()];
    let got = store.units_under(&roots).await.unwrap();
    assert_eq!(got, expect(&roots));

    assert_eq!(store.units_under(std::slice::from_ref(&a_unit)).await.unwrap(), vec![path(&a_unit)]);
    assert!(store.units_under(&[]).await.unwrap().is_empty());
    assert!(store.units_under(&[code("141102099")]).await.unwrap().is_empty());
}

pub async fn resident_lookup(store: &dyn Store) {
    let d = load_district(store).await;
    for r in &d.residents {
        assert_eq!(store.resident(r.id).await.unwrap().as_ref(), Some(r));
    }
    assert_eq!(store.resident(d.max_resident_id() + 1_000).await.unwrap(), None);
}

/// Search by ID number, phone and name prefix, always limited to the roots.
pub async fn search_residents_in_scope(store: &dyn Store) {
    let d = load_district(store).await;
    let communities: Vec<AreaCode> = d.level(AreaLevel::Community).iter().map(|a| a.code.clone()).collect();
    let r =
        d.residents.iter().find(|r| r.phone.is_some() && r.unit.as_str().starts_with(communities[0].as_str())).unwrap();
    let own = r.unit.lineage()[2].clone();
    let other = communities.iter().find(|c| **c != own).unwrap().clone();
    let building = r.unit.parent().unwrap();

    let by_id = ResidentQuery::IdNumber(r.id_number.clone());
    for roots in [vec![d.district()], vec![own.clone()], vec![r.unit.clone()], vec![other.clone(), building.clone()]] {
        assert_eq!(store.search_residents(&roots, &by_id, 10).await.unwrap(), vec![r.clone()], "roots {roots:?}");
    }
    assert!(
        store.search_residents(std::slice::from_ref(&other), &by_id, 10).await.unwrap().is_empty(),
        "a root elsewhere"
    );
    assert!(store.search_residents(&[], &by_id, 10).await.unwrap().is_empty(), "no roots");
    let unknown = ResidentQuery::IdNumber(fresh_id_number(1));
    assert!(store.search_residents(&[d.district()], &unknown, 10).await.unwrap().is_empty());

    let phone = r.phone.as_ref().unwrap().as_str().to_string();
    let by_phone = ResidentQuery::Phone(phone.clone());
    let expected: Vec<i64> = d
        .residents
        .iter()
        .filter(|x| x.phone.as_ref().map(|p| p.as_str()) == Some(phone.as_str()) && own.contains(&x.unit))
        .map(|x| x.id)
        .collect();
    assert_eq!(ids(&store.search_residents(std::slice::from_ref(&own), &by_phone, 10).await.unwrap()), expected);
    assert!(
        store.search_residents(std::slice::from_ref(&other), &by_phone, 10).await.unwrap().is_empty(),
        "a root elsewhere"
    );

    let surname: String = r.name.as_str().chars().take(1).collect();
    for (prefix, roots) in [
        (surname.clone(), vec![own.clone()]),
        (surname.clone(), vec![other.clone()]),
        (surname.clone(), vec![d.district()]),
        (surname.clone(), vec![building.clone(), other.clone()]),
        (r.name.as_str().to_string(), vec![own.clone()]),
    ] {
        let expected: Vec<i64> =
            d.under(&roots).filter(|x| x.name.as_str().starts_with(&prefix)).map(|x| x.id).collect();
        let query = ResidentQuery::NamePrefix(prefix.clone());
        let got = store.search_residents(&roots, &query, 10_000).await.unwrap();
        assert_eq!(ids(&got), expected, "name prefix under {roots:?}");
        for x in &got {
            assert_eq!(Some(x), d.residents.iter().find(|y| y.id == x.id));
        }
        let limited = store.search_residents(&roots, &query, 3).await.unwrap();
        assert_eq!(ids(&limited), expected.iter().copied().take(3).collect::<Vec<_>>(), "limit");
    }
    let nobody = ResidentQuery::NamePrefix("鑫鑫鑫".into());
    assert!(store.search_residents(&[d.district()], &nobody, 10).await.unwrap().is_empty());
}

/// Households of a building by unit then room (numeric), each with its members by id.
pub async fn building_roster_order_and_members(store: &dyn Store) {
    let d = load_district(store).await;
    let building = d.busiest_building();
    let mut households: Vec<&Household> = d.households.iter().filter(|h| building.contains(&h.unit)).collect();
    households.sort_by_key(|h| room_key(&h.unit, &h.room));
    assert!(households.len() >= 5, "the fixture's busiest building has several households");
    assert!(
        households.iter().any(|h| h.room.len() == 3) && households.iter().any(|h| h.room.len() == 4),
        "the fixture exercises numeric room order (101 … 1001)"
    );

    let roster = store.building_roster(&building).await.unwrap();
    assert_eq!(
        roster.iter().map(|h| h.household_id).collect::<Vec<_>>(),
        households.iter().map(|h| h.id).collect::<Vec<_>>()
    );
    for (got, h) in roster.iter().zip(&households) {
        assert_eq!(got.unit, h.unit);
        assert_eq!(got.room, h.room);
        assert_eq!(got.unit_name, d.name(&h.unit));
        let members: Vec<Resident> = d.residents.iter().filter(|r| r.household_id == h.id).cloned().collect();
        assert!(!members.is_empty());
        assert_eq!(got.members, members, "members of household {}", h.id);
    }
    // Every building: same households, same order.
    for b in d.level(AreaLevel::Building) {
        let mut expected: Vec<&Household> = d.households.iter().filter(|h| b.code.contains(&h.unit)).collect();
        expected.sort_by_key(|h| room_key(&h.unit, &h.room));
        let got = store.building_roster(&b.code).await.unwrap();
        assert_eq!(
            got.iter().map(|h| h.household_id).collect::<Vec<_>>(),
            expected.iter().map(|h| h.id).collect::<Vec<_>>()
        );
    }
    assert!(store.building_roster(&code("141102099099099099")).await.unwrap().is_empty());
}

/// Every resident under the roots, any status, by unit, room (numeric), id.
pub async fn residents_under_in_order(store: &dyn Store) {
    let mut d = load_district(store).await;
    let communities: Vec<AreaCode> = d.level(AreaLevel::Community).iter().map(|a| a.code.clone()).collect();
    let (a, b) = (communities[0].clone(), communities[1].clone());
    let b_building = d.level(AreaLevel::Building).into_iter().find(|x| b.contains(&x.code)).unwrap().code.clone();
    let a_compound = d.level(AreaLevel::Compound).into_iter().find(|x| a.contains(&x.code)).unwrap().code.clone();

    // A moved-out resident is still listed, with its status.
    let moved = d.residents.iter().find(|r| a.contains(&r.unit)).unwrap().clone();
    let moved = store
        .correct_resident(moved.id, &Correction::MovedOut, &audit_entry(1, "w", "resident.update", "resident", "1"))
        .await
        .unwrap();
    d.set(&moved);

    let expect = |roots: &[AreaCode]| {
        let mut rs: Vec<Resident> = d.under(roots).cloned().collect();
        rs.sort_by_key(|x| (room_key(&x.unit, &x.room), x.id));
        rs
    };
    let roots = [a.clone(), b_building.clone(), a_compound.clone()];
    let got = store.residents_under(&roots).await.unwrap();
    assert_eq!(got, expect(&roots));
    assert!(got.iter().any(|r| r.id == moved.id && r.status == ResidentStatus::MovedOut));

    let all = store.residents_under(&[d.district()]).await.unwrap();
    assert_eq!(all.len() as u64, POPULATION);
    assert_eq!(all, expect(&[d.district()]));
    assert!(store.residents_under(&[]).await.unwrap().is_empty());
}

pub async fn existing_id_numbers(store: &dyn Store) {
    let d = load_district(store).await;
    let (r1, r2) = (&d.residents[3], &d.residents[d.residents.len() - 2]);
    let asked = vec![fresh_id_number(1), r1.id_number.clone(), fresh_id_number(2), r2.id_number.clone()];
    let got: BTreeSet<IdNumber> = store.existing_id_numbers(&asked).await.unwrap().into_iter().collect();
    assert_eq!(got, BTreeSet::from([r1.id_number.clone(), r2.id_number.clone()]));
    assert!(store.existing_id_numbers(&[]).await.unwrap().is_empty());
    assert!(store.existing_id_numbers(&[fresh_id_number(3)]).await.unwrap().is_empty());
}

/// Registration finds a household by (unit, room) or creates it, and writes its audit
/// entry in the same transaction.
pub async fn register_residents_creates_households_and_audits(store: &dyn Store) {
    let d = load_district(store).await;
    let building = d.busiest_building();
    let h = d.households.iter().find(|h| building.contains(&h.unit)).unwrap().clone();
    let before = store.area_summary(&h.unit).await.unwrap().unwrap();
    let new = vec![
        new_resident(&h.unit, &h.room, "张新来", fresh_id_number(10), Some("13912345678")),
        new_resident(&h.unit, "9901", "李新家", fresh_id_number(11), None),
        new_resident(&h.unit, "9901", "李新口", fresh_id_number(12), Some("13812345678")),
    ];
    let audit = audit_entry(7, "worker", "residents.import", "area", h.unit.as_str());
    let ids = store.register_residents(&new, &audit).await.unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|id| *id > d.max_resident_id()), "ids after the loaded ones");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 3);

    let mut got = Vec::new();
    for (id, n) in ids.iter().zip(&new) {
        let r = store.resident(*id).await.unwrap().expect("registered resident");
        assert_eq!(
            (&r.unit, &r.room, &r.name, &r.id_number, &r.phone, r.flags),
            (&n.unit, &n.room, &n.name, &n.id_number, &n.phone, n.flags)
        );
        assert_eq!(r.status, ResidentStatus::Active);
        got.push(r);
    }
    assert_eq!(got[0].household_id, h.id, "joins the existing household");
    assert_eq!(got[1].household_id, got[2].household_id, "one new household for room 9901");
    assert!(d.households.iter().all(|x| x.id != got[1].household_id));

    let roster = store.building_roster(&building).await.unwrap();
    let new_household = roster.iter().find(|x| x.household_id == got[1].household_id).expect("new household in roster");
    assert_eq!((new_household.unit.clone(), new_household.room.as_str()), (h.unit.clone(), "9901"));
    assert_eq!(new_household.members, vec![got[1].clone(), got[2].clone()]);
    let old_household = roster.iter().find(|x| x.household_id == h.id).unwrap();
    assert_eq!(old_household.members.last(), Some(&got[0]));
    // 9901 sorts after every generated room of its unit.
    let unit_rooms: Vec<&str> = roster.iter().filter(|x| x.unit == h.unit).map(|x| x.room.as_str()).collect();
    assert_eq!(unit_rooms.last(), Some(&"9901"));

    let after = store.area_summary(&h.unit).await.unwrap().unwrap();
    assert_eq!((after.households, after.residents), (before.households + 1, before.residents + 3));
    let found =
        store.search_residents(&[d.district()], &ResidentQuery::IdNumber(fresh_id_number(11)), 5).await.unwrap();
    assert_eq!(found, vec![got[1].clone()]);
    assert_eq!(store.existing_id_numbers(&[fresh_id_number(12)]).await.unwrap(), vec![fresh_id_number(12)]);

    let log = all_audit(store).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].entry, audit);

    // Ids keep growing.
    let more = store
        .register_residents(&[new_resident(&h.unit, "9902", "王再来", fresh_id_number(13), None)], &audit)
        .await
        .unwrap();
    assert!(more[0] > *ids.iter().max().unwrap());
}

/// A duplicate ID number (already registered, or twice in the batch) rejects the whole
/// batch: no resident, no household, no audit entry.
pub async fn register_residents_conflict_writes_nothing(store: &dyn Store) {
    let d = load_district(store).await;
    let building = d.busiest_building();
    let unit = d.households.iter().find(|h| building.contains(&h.unit)).unwrap().unit.clone();
    let existing = d.residents.iter().find(|r| building.contains(&r.unit)).unwrap().clone();
    let roster_before = store.building_roster(&building).await.unwrap();
    let summary_before = store.area_summary(&d.district()).await.unwrap();
    let audit = audit_entry(1, "worker", "residents.import", "area", unit.as_str());

    let batches = [
        vec![
            new_resident(&unit, "9902", "赵先到", fresh_id_number(20), None),
            new_resident(&unit, "9903", "赵重复", existing.id_number.clone(), None),
        ],
        vec![
            new_resident(&unit, "9902", "钱一号", fresh_id_number(21), None),
            new_resident(&unit, "9902", "钱二号", fresh_id_number(21), None),
        ],
    ];
    for batch in &batches {
        let err = store.register_residents(batch, &audit).await.unwrap_err();
        assert_eq!(err.code(), "id_number_exists");
        assert!(matches!(err, StoreError::Conflict { .. }));
    }
    assert!(store.existing_id_numbers(&[fresh_id_number(20), fresh_id_number(21)]).await.unwrap().is_empty());
    assert!(all_audit(store).await.is_empty(), "no audit entry for a rejected batch");
    assert_eq!(store.building_roster(&building).await.unwrap(), roster_before);
    assert_eq!(store.area_summary(&d.district()).await.unwrap(), summary_before);
    assert_eq!(store.resident(existing.id).await.unwrap(), Some(existing.clone()));

    // The store is still usable, and the first resident registers on its own.
    let ids = store.register_residents(&batches[0][..1], &audit).await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(all_audit(store).await.len(), 1);
}

/// Each kind of correction changes what it says, counts follow, and each writes its audit
/// entry; a correction of a missing resident writes nothing.
pub async fn correct_resident_each_kind(store: &dyn Store) {
    let mut d = load_district(store).await;
    // A resident alone in a household, so that moving out also changes the household count.
    let mut per_household: HashMap<i64, usize> = HashMap::new();
    for r in &d.residents {
        *per_household.entry(r.household_id).or_default() += 1;
    }
    let target = d.residents.iter().find(|r| per_household[&r.household_id] == 1).unwrap_or(&d.residents[0]).clone();
    let lineage = target.unit.lineage();
    let new_phone = Phone::parse("19912340000").unwrap();
    let corrections = [
        Correction::MovedOut,
        Correction::Returned,
        Correction::SetTemporary { temporary: true },
        Correction::SetTemporary { temporary: false },
        Correction::SetPhone { phone: Some(new_phone.clone()) },
        Correction::SetPhone { phone: None },
        Correction::SetFlags { bedridden: true, no_smartphone: true },
        Correction::SetFlags { bedridden: false, no_smartphone: false },
        Correction::MovedOut,
    ];
    for (i, c) in corrections.iter().enumerate() {
        let before = store.resident(target.id).await.unwrap().unwrap();
        let expected = c.apply(&before);
        let audit = audit_entry(i as i64, "leader", "resident.update", "resident", &target.id.to_string());
        let got = store.correct_resident(target.id, c, &audit).await.unwrap();
        assert_eq!(got, expected, "{}", c.code());
        assert_eq!(store.resident(target.id).await.unwrap(), Some(expected.clone()));
        d.set(&expected);

        let log = all_audit(store).await;
        assert_eq!(log.len(), i + 1);
        assert_eq!(log[0].entry, audit);

        for area in &lineage {
            let s = store.area_summary(area).await.unwrap().unwrap();
            assert_eq!((s.households, s.residents), d.active_counts(area), "counts under {area} after {}", c.code());
        }
        let by_phone = store
            .search_residents(&[d.district()], &ResidentQuery::Phone(new_phone.as_str().into()), 10)
            .await
            .unwrap();
        let has_phone = matches!(c, Correction::SetPhone { phone: Some(_) });
        assert_eq!(ids(&by_phone), if has_phone { vec![target.id] } else { vec![] });
    }
    let roster = store.building_roster(&target.unit.parent().unwrap()).await.unwrap();
    let member = roster
        .iter()
        .flat_map(|h| h.members.iter())
        .find(|m| m.id == target.id)
        .expect("moved out, still on the roster");
    assert_eq!(member.status, ResidentStatus::MovedOut);

    let missing = d.max_resident_id() + 1_000;
    let err = store
        .correct_resident(missing, &Correction::MovedOut, &audit_entry(99, "x", "resident.update", "resident", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(all_audit(store).await.len(), corrections.len(), "no audit entry for a failed correction");
}

pub async fn grids_and_building_leaders(store: &dyn Store) {
    let d = load_district(store).await;
    assert!(d.grids.len() >= 2);
    for g in &d.grids {
        assert_eq!(store.grid(g.id).await.unwrap().map(sorted_buildings), Some(sorted_buildings(g.clone())));
    }
    let max_grid = d.grids.iter().map(|g| g.id).max().unwrap();
    assert_eq!(store.grid(max_grid + 100).await.unwrap(), None);

    let grid_ids = |gs: Vec<Grid>| {
        let mut v: Vec<i64> = gs.iter().map(|g| g.id).collect();
        v.sort();
        v
    };
    let all = store.grids_under(&d.district()).await.unwrap();
    assert_eq!(grid_ids(all.clone()), grid_ids(d.grids.clone()));
    for g in &all {
        assert_eq!(
            sorted_buildings(g.clone()),
            sorted_buildings(d.grids.iter().find(|x| x.id == g.id).unwrap().clone())
        );
    }
    for area in d.level(AreaLevel::Street).into_iter().chain(d.level(AreaLevel::Community)) {
        let expected: Vec<Grid> = d.grids.iter().filter(|g| area.code.contains(&g.community)).cloned().collect();
        assert_eq!(
            grid_ids(store.grids_under(&area.code).await.unwrap()),
            grid_ids(expected),
            "grids under {}",
            area.code
        );
    }
    for b in d.level(AreaLevel::Building) {
        let expected: Vec<Grid> = d.grids.iter().filter(|g| g.buildings.contains(&b.code)).cloned().collect();
        assert_eq!(expected.len(), 1);
        assert_eq!(grid_ids(store.grids_under(&b.code).await.unwrap()), grid_ids(expected), "grids under {}", b.code);
    }
    assert!(store.grids_under(&code("141102099")).await.unwrap().is_empty());

    for l in &d.leaders {
        assert_eq!(store.building_leader(&l.building).await.unwrap().as_ref(), Some(l));
    }
    assert_eq!(store.building_leader(&code("141102099099099099")).await.unwrap(), None);
    let compound = d.level(AreaLevel::Compound)[0].code.clone();
    assert_eq!(store.building_leader(&compound).await.unwrap(), None);
}

pub async fn users_and_username_conflict(store: &dyn Store) {
    let district = code(DISTRICT_CODE);
    let n1 = new_user("commander1", Role::Commander, UserScope::Area(district.clone()));
    let n2 = new_user("grid1", Role::GridWorker, UserScope::Grid(3));
    let u1 = store.create_user(&n1).await.unwrap();
    assert_user_matches(&u1, &n1);
    let u2 = store.create_user(&n2).await.unwrap();
    assert_user_matches(&u2, &n2);
    assert!(u2.id > u1.id);

    assert_eq!(store.user(u1.id).await.unwrap(), Some(u1.clone()));
    assert_eq!(store.user_by_username("grid1").await.unwrap(), Some(u2.clone()));
    assert_eq!(store.user_by_username("nobody").await.unwrap(), None);
    assert_eq!(store.user(u2.id + 100).await.unwrap(), None);

    let dup = NewUser { display_name: "someone else".into(), ..n1.clone() };
    let err = store.create_user(&dup).await.unwrap_err();
    assert_eq!(err.code(), "username_taken");
    assert!(matches!(err, StoreError::Conflict { .. }));
    assert_eq!(store.users().await.unwrap(), vec![u1.clone(), u2.clone()]);

    store.set_password(u1.id, "$argon2id$new").await.unwrap();
    assert_eq!(store.user(u1.id).await.unwrap().unwrap().password_hash, "$argon2id$new");
    assert_eq!(store.user(u2.id).await.unwrap(), Some(u2.clone()));

    // Every role survives the round trip.
    for role in Role::ALL {
        let n = new_user(&format!("user_{}", role.code()), role, UserScope::Area(district.clone()));
        let u = store.create_user(&n).await.unwrap();
        assert_eq!(store.user_by_username(&n.username).await.unwrap(), Some(u.clone()));
        assert_eq!(u.role, role);
    }
    let users = store.users().await.unwrap();
    assert_eq!(users.len(), 2 + Role::ALL.len());
    assert!(users.windows(2).all(|w| w[0].id < w[1].id), "users ordered by id");
}

pub async fn sessions_expire_and_delete(store: &dyn Store) {
    let u = store.create_user(&new_user("alice", Role::Commander, UserScope::Area(code(DISTRICT_CODE)))).await.unwrap();
    let s1 = Session {
        token_hash: "hash-1".into(),
        user_id: u.id,
        csrf_token: "csrf-1".into(),
        created_at: t(0),
        expires_at: t(3_600),
    };
    let s2 = Session {
        token_hash: "hash-2".into(),
        user_id: u.id,
        csrf_token: "csrf-2".into(),
        created_at: t(10),
        expires_at: t(7_200),
    };
    store.create_session(&s1).await.unwrap();
    store.create_session(&s2).await.unwrap();

    assert_eq!(store.session("hash-1", t(20)).await.unwrap(), Some(s1.clone()));
    assert_eq!(store.session("hash-1", t(3_599)).await.unwrap(), Some(s1.clone()));
    assert_eq!(store.session("hash-1", t(3_601)).await.unwrap(), None, "expired");
    assert_eq!(store.session("hash-2", t(3_601)).await.unwrap(), Some(s2.clone()));
    assert_eq!(store.session("nope", t(20)).await.unwrap(), None);

    store.delete_session("hash-2").await.unwrap();
    assert_eq!(store.session("hash-2", t(20)).await.unwrap(), None);
    assert_eq!(store.session("hash-1", t(20)).await.unwrap(), Some(s1));
    store.delete_session("never-existed").await.unwrap();
}

pub async fn api_tokens(store: &dyn Store) {
    let district = UserScope::Area(code(DISTRICT_CODE));
    let a = store.create_user(&new_user("device-a", Role::Sampler, district.clone())).await.unwrap();
    let b = store.create_user(&new_user("device-b", Role::LabTech, district)).await.unwrap();
    store.create_api_token("tok-a", a.id, "scanner 1", t(0)).await.unwrap();
    store.create_api_token("tok-b", b.id, "lab import", t(5)).await.unwrap();
    let user_of = |h: &'static str| async move { store.bearer_facts(h).await.unwrap().map(|f| f.user) };
    assert_eq!(user_of("tok-a").await, Some(a));
    assert_eq!(user_of("tok-b").await, Some(b));
    assert_eq!(user_of("tok-c").await, None);
}

/// Polls every future to completion, interleaved (a join without a futures crate).
async fn join_all<T>(mut futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = T> + '_>>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Twenty concurrent attempts on one account from one address: exactly the free failures
/// and one more go to a password check, the rest wait (the check and the charge are one
/// transaction). A success forgets the account's failures and gives the address back the
/// one it was charged; the delay is per key.
pub async fn login_throttle_is_atomic(store: &dyn Store) {
    use cordon_domain::security::{LoginAttempt, SecurityRules, ThrottleKind, ThrottleOp};
    let rules = SecurityRules::default();
    let keys = vec![(ThrottleKind::Account, "a:alice".to_string()), (ThrottleKind::Client, "c:10.0.0.1".to_string())];
    let futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = LoginAttempt> + '_>>> = (0..20)
        .map(|_| {
            let (keys, rules) = (keys.clone(), rules.clone());
            Box::pin(async move { store.login_throttle(ThrottleOp::Attempt, &keys, t(0), &rules).await.unwrap() })
                as std::pin::Pin<Box<dyn std::future::Future<Output = LoginAttempt> + '_>>
        })
        .collect();
    let answers = join_all(futs).await;
    let went = answers.iter().filter(|a| **a == LoginAttempt::Go).count();
    assert_eq!(went, rules.login_free_failures as usize + 1, "{answers:?}");
    let wait = t(0) + chrono::Duration::seconds(i64::from(rules.login_first_delay_seconds));
    assert!(answers.iter().all(|a| *a == LoginAttempt::Go || *a == LoginAttempt::Wait { until: wait }), "{answers:?}");

    // The account waits, from any address; another account from the same address does
    // not (the address has 4 of its 20 free failures).
    let elsewhere =
        vec![(ThrottleKind::Account, "a:alice".to_string()), (ThrottleKind::Client, "c:10.0.0.2".to_string())];
    let r = store.login_throttle(ThrottleOp::Attempt, &elsewhere, t(1), &rules).await.unwrap();
    assert_eq!(r, LoginAttempt::Wait { until: wait });
    let other = vec![(ThrottleKind::Account, "a:bob".to_string()), (ThrottleKind::Client, "c:10.0.0.1".to_string())];
    assert_eq!(store.login_throttle(ThrottleOp::Attempt, &other, t(1), &rules).await.unwrap(), LoginAttempt::Go);
    // After the wait one more goes and succeeds: the account is forgotten.
    assert_eq!(store.login_throttle(ThrottleOp::Attempt, &keys, t(2), &rules).await.unwrap(), LoginAttempt::Go);
    assert_eq!(store.login_throttle(ThrottleOp::Success, &keys, t(2), &rules).await.unwrap(), LoginAttempt::Go);
    for _ in 0..3 {
        let r = store.login_throttle(ThrottleOp::Attempt, &elsewhere, t(2), &rules).await.unwrap();
        assert_eq!(r, LoginAttempt::Go, "alice's failures were forgotten");
    }

    // One address guessing at many accounts at once: its free failures and one more go.
    let futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = LoginAttempt> + '_>>> = (0..30)
        .map(|i| {
            let keys =
                vec![(ThrottleKind::Account, format!("a:user{i}")), (ThrottleKind::Client, "c:10.9.9.9".to_string())];
            let rules = rules.clone();
            Box::pin(async move { store.login_throttle(ThrottleOp::Attempt, &keys, t(10), &rules).await.unwrap() })
                as std::pin::Pin<Box<dyn std::future::Future<Output = LoginAttempt> + '_>>
        })
        .collect();
    let answers = join_all(futs).await;
    let went = answers.iter().filter(|a| **a == LoginAttempt::Go).count();
    assert_eq!(went, rules.login_client_free_failures as usize + 1, "{answers:?}");

    // The deployment's secret: the first candidate is kept.
    assert_eq!(store.instance_secret("login", b"first").await.unwrap(), b"first".to_vec());
    assert_eq!(store.instance_secret("login", b"second").await.unwrap(), b"first".to_vec());
    assert_eq!(store.instance_secret("other", b"x").await.unwrap(), b"x".to_vec());
}

/// Newest first, each filter alone and combined, paging with `before_id` and `limit`.
pub async fn audit_log_filters_and_paging(store: &dyn Store) {
    let actors = ["alice", "bob"];
    let actions = ["resident.read", "roster.read", "resident.update"];
    let kinds = ["resident", "building"];
    let entries: Vec<AuditEntry> = (0..30)
        .map(|i| {
            let i = i as usize;
            audit_entry(i as i64, actors[i % 2], actions[i % 3], kinds[i % 2], &format!("t{}", i % 4))
        })
        .collect();
    // Several appends, in order: ids grow with the order of appending.
    store.append_audit(&entries[..1]).await.unwrap();
    store.append_audit(&entries[1..25]).await.unwrap();
    store.append_audit(&[]).await.unwrap();
    store.append_audit(&entries[25..]).await.unwrap();

    let newest_first: Vec<AuditEntry> = entries.iter().rev().cloned().collect();
    let all = all_audit(store).await;
    assert_eq!(all.iter().map(|r| r.entry.clone()).collect::<Vec<_>>(), newest_first);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "ids strictly decreasing");

    // Paging through everything, ten at a time.
    let mut pages = Vec::new();
    let mut before_id = None;
    loop {
        let page = store.audit_log(&AuditFilter { before_id, limit: 10, ..AuditFilter::default() }).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        before_id = page.last().map(|r| r.id);
        pages.push(page);
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(pages.concat(), all);

    let filtered = |f: &dyn Fn(&AuditEntry) -> bool| newest_first.iter().filter(|e| f(e)).cloned().collect::<Vec<_>>();
    let entries_of = |rs: Vec<AuditRecord>| rs.into_iter().map(|r| r.entry).collect::<Vec<_>>();
    let query = |actor: Option<&str>, action: Option<&str>, kind: Option<&str>, target: Option<&str>| AuditFilter {
        actor: actor.map(String::from),
        action: action.map(String::from),
        action_family: None,
        target_kind: kind.map(String::from),
        target: target.map(String::from),
        before_id: None,
        limit: 100,
    };

    let got = store.audit_log(&query(Some("alice"), None, None, None)).await.unwrap();
    assert_eq!(entries_of(got), filtered(&|e| e.actor == "alice"));
    let got = store.audit_log(&query(None, Some("roster.read"), None, None)).await.unwrap();
    assert_eq!(entries_of(got), filtered(&|e| e.action == "roster.read"));
    let got = store.audit_log(&query(None, None, Some("building"), Some("t3"))).await.unwrap();
    assert_eq!(entries_of(got), filtered(&|e| e.target_kind == "building" && e.target == "t3"));
    let got = store.audit_log(&query(None, None, None, Some("t2"))).await.unwrap();
    assert_eq!(entries_of(got), filtered(&|e| e.target == "t2"));
    let got = store.audit_log(&query(Some("bob"), Some("resident.update"), None, None)).await.unwrap();
    assert_eq!(entries_of(got), filtered(&|e| e.actor == "bob" && e.action == "resident.update"));
    assert!(store.audit_log(&query(Some("carol"), None, None, None)).await.unwrap().is_empty());
    // By family: `resident` is resident.read and resident.update, not roster.read.
    let family = |f: &str| AuditFilter { action_family: Some(f.into()), ..query(None, None, None, None) };
    let got = store.audit_log(&family("resident")).await.unwrap();
    assert_eq!(entries_of(got), filtered(&|e| e.action.starts_with("resident.")));
    let got = store.audit_log(&family("resident.read")).await.unwrap();
    assert_eq!(entries_of(got), filtered(&|e| e.action == "resident.read"));
    assert!(store.audit_log(&family("resid")).await.unwrap().is_empty(), "a family is whole segments");

    // Filter and page together.
    let first = store.audit_log(&AuditFilter { limit: 4, ..query(Some("alice"), None, None, None) }).await.unwrap();
    let second = store
        .audit_log(&AuditFilter {
            limit: 100,
            before_id: first.last().map(|r| r.id),
            ..query(Some("alice"), None, None, None)
        })
        .await
        .unwrap();
    assert_eq!(first.len(), 4);
    assert_eq!(entries_of([first, second].concat()), filtered(&|e| e.actor == "alice"));
}
