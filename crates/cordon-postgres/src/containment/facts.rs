//! The containment facts on PostgreSQL: each part of [`Keys`] as SQL (lists as `= ANY`
//! arrays, rows locked `FOR UPDATE` inside a write), each row parsed back into domain
//! values. No rule lives here.

use crate::error::{Db, corrupt};
use crate::rows::get;
use chrono::{DateTime, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::colour::{ContactClass, QuarantineKind};
use cordon_domain::containment::assign::{Occupant, RoomSlot, SiteSlots};
use cordon_domain::containment::quarantine::{
    Category, HealthCheck, NewHealthCheck, NewSite, Order, OrderState, OrderTest, Person, Room, RoomState, Site,
    SiteKind, Symptom, TestPlace, TestStatus,
};
use cordon_domain::containment::transfer::{RunState, TransferRun, TransferState, Vehicle};
use cordon_domain::containment::zoneclock::{
    CaseHome, ProposalStatus, ProposedZone, RoundPerson, ZoneFacts, ZoneProposal, ZoneRound,
};
use cordon_domain::id_number::IdNumber;
use cordon_domain::name::PersonName;
use cordon_domain::phone::Phone;
use cordon_domain::policy::Celsius;
use cordon_domain::regime::{Phase, Schedule, TestDay};
use cordon_domain::zone::{RiskZone, ZoneLevel};
use cordon_store::StoreError;
use cordon_store::containment::facts::{
    ClockKeys, Facts, Keys, OrderQuery, ProposalQuery, QueueQuery, RunQuery, SiteQuery, ZoneQuery,
};
use cordon_store::containment::{
    DeviceOp, IsolationCandidate, QueueEntry, QueueStatus, ZoneEvent, ZoneEventKind, ZoneRunRecord,
};
use std::collections::BTreeMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

type Result<T> = std::result::Result<T, StoreError>;
type Param = Box<dyn ToSql + Sync + Send>;

// ---- parsing helpers ----------------------------------------------------------------------

fn id_of(r: &Row) -> String {
    r.try_get::<_, i64>(0).map(|i| i.to_string()).unwrap_or_else(|_| "?".into())
}

fn parsed<T>(r: &Row, i: usize, table: &str, col: &str, f: impl Fn(&str) -> Option<T>) -> Result<T> {
    let s: &str = get(r, i)?;
    f(s).ok_or_else(|| corrupt(table, id_of(r), col))
}

fn opt_parsed<T>(r: &Row, i: usize, table: &str, col: &str, f: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
    let s: Option<&str> = get(r, i)?;
    s.map(|s| f(s).ok_or_else(|| corrupt(table, id_of(r), col))).transpose()
}

fn small(r: &Row, i: usize, table: &str, col: &str) -> Result<u32> {
    let v: i32 = get(r, i)?;
    u32::try_from(v).map_err(|_| corrupt(table, id_of(r), col))
}

fn area(s: &str) -> Option<AreaCode> {
    AreaCode::parse(s).ok()
}

fn level(s: &str) -> Option<ZoneLevel> {
    ZoneLevel::parse(s).ok()
}

fn small_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

// ---- query building ----------------------------------------------------------------------

#[derive(Default)]
struct Filter {
    parts: Vec<String>,
    params: Vec<Param>,
    empty: bool,
}

impl Filter {
    fn next(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }
    fn any_i64(&mut self, col: &str, v: &[i64]) {
        if v.is_empty() {
            self.empty = true;
            return;
        }
        let n = self.next(Box::new(v.to_vec()));
        self.parts.push(format!("{col} = ANY({n})"));
    }
    fn any_text(&mut self, col: &str, v: Vec<String>) {
        if v.is_empty() {
            self.empty = true;
            return;
        }
        let n = self.next(Box::new(v));
        self.parts.push(format!("{col} = ANY({n})"));
    }
    fn under(&mut self, col: &str, roots: &[AreaCode]) {
        if roots.is_empty() {
            self.empty = true;
            return;
        }
        let mut ors = Vec::with_capacity(roots.len());
        for r in roots {
            let lo = self.next(Box::new(r.as_str().to_string()));
            let hi = self.next(Box::new(r.range_end()));
            ors.push(format!("({col} >= {lo} AND {col} < {hi})"));
        }
        self.parts.push(format!("({})", ors.join(" OR ")));
    }
    fn eq_i64(&mut self, col: &str, v: i64) {
        let n = self.next(Box::new(v));
        self.parts.push(format!("{col} = {n}"));
    }
    fn raw(&mut self, sql: &str) {
        self.parts.push(sql.to_string());
    }
    fn sql(&self) -> String {
        if self.parts.is_empty() { "true".into() } else { self.parts.join(" AND ") }
    }
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

async fn rows<C: GenericClient + Sync>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
    c.query(sql, p).await.db()
}

const OPEN_STATES: &str = "('ordered', 'in_transfer', 'in_quarantine', 'home_monitoring')";

fn lock(k: &Keys, of: &str) -> String {
    if k.lock { format!(" FOR UPDATE OF {of}") } else { String::new() }
}

// ---- orders --------------------------------------------------------------------------------

pub(crate) const ORDER_COLS: &str = "id, resident_id, name, id_number, phone, unit_code, address, household_id, \
     category, contact_id, reason, kind, last_exposure, start_date, centralised_until, end_date, centralised_days, \
     home_days, state, transfer_state, run_id, site_id, room_id, identified_at, ordered_at, ordered_by, picked_up_at, \
     picked_up_by, arrived_at, arrived_by, in_quarantine_at, released_at, released_by, closed_at, closed_by, case_at";

fn order(r: &Row) -> Result<Order> {
    const T: &str = "quarantine order";
    let kind = parsed(r, 11, T, "kind", |s| match s {
        "centralised" => Some(QuarantineKind::Centralised),
        "home" => Some(QuarantineKind::Home),
        _ => None,
    })?;
    Ok(Order {
        id: get(r, 0)?,
        person: Person {
            resident_id: get(r, 1)?,
            name: parsed(r, 2, T, "name", |s| PersonName::parse(s).ok())?,
            id_number: opt_parsed(r, 3, T, "id_number", |s| IdNumber::parse(s).ok())?,
            phone: opt_parsed(r, 4, T, "phone", |s| Phone::parse(s).ok())?,
            unit: opt_parsed(r, 5, T, "unit_code", area)?,
            address: get(r, 6)?,
            household_id: get(r, 7)?,
        },
        category: parsed(r, 8, T, "category", Category::parse)?,
        contact_id: get(r, 9)?,
        reason: get(r, 10)?,
        schedule: Schedule {
            kind,
            last_exposure: get(r, 12)?,
            start: get(r, 13)?,
            centralised_until: get(r, 14)?,
            end: get(r, 15)?,
            centralised_days: small(r, 16, T, "centralised_days")?,
            home_days: small(r, 17, T, "home_days")?,
            tests: Vec::new(),
        },
        state: parsed(r, 18, T, "state", OrderState::parse)?,
        transfer: opt_parsed(r, 19, T, "transfer_state", TransferState::parse)?,
        run_id: get(r, 20)?,
        site_id: get(r, 21)?,
        room_id: get(r, 22)?,
        identified_at: get(r, 23)?,
        ordered_at: get(r, 24)?,
        ordered_by: get(r, 25)?,
        picked_up_at: get(r, 26)?,
        picked_up_by: get(r, 27)?,
        arrived_at: get(r, 28)?,
        arrived_by: get(r, 29)?,
        in_quarantine_at: get(r, 30)?,
        released_at: get(r, 31)?,
        released_by: get(r, 32)?,
        closed_at: get(r, 33)?,
        closed_by: get(r, 34)?,
        case_at: get(r, 35)?,
    })
}

async fn orders<C: GenericClient + Sync>(c: &C, q: &OrderQuery, k: &Keys) -> Result<Vec<Order>> {
    let mut f = Filter::default();
    if let Some(v) = &q.ids {
        f.any_i64("id", v);
    }
    if let Some(v) = &q.run_ids {
        f.any_i64("run_id", v);
    }
    if let Some(v) = &q.site_ids {
        f.any_i64("site_id", v);
    }
    if let Some(v) = &q.resident_ids {
        f.any_i64("resident_id", v);
    }
    if let Some(v) = &q.id_numbers {
        f.any_text("id_number", v.iter().map(|n| n.as_str().to_string()).collect());
    }
    if let Some(v) = &q.roots {
        f.under("unit_code", v);
    }
    if let Some(v) = &q.states {
        f.any_text("state", v.iter().map(|s| s.as_str().to_string()).collect());
    }
    if let Some(v) = &q.transfer {
        f.any_text("transfer_state", v.iter().map(|s| s.as_str().to_string()).collect());
    }
    if q.open {
        f.raw(&format!("state IN {OPEN_STATES}"));
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let limit = q.limit.map_or(String::new(), |l| format!(" LIMIT {l}"));
    let sql =
        format!("SELECT {ORDER_COLS} FROM quarantine_orders o WHERE {} ORDER BY id{limit}{}", f.sql(), lock(k, "o"));
    rows(c, &sql, &f.refs()).await?.iter().map(order).collect()
}

const TEST_COLS: &str = "order_id, day, phase_day, phase, date, place, status, sampled_at, result_at";

fn test(r: &Row) -> Result<OrderTest> {
    const T: &str = "order test";
    Ok(OrderTest {
        order_id: get(r, 0)?,
        day: small(r, 1, T, "day")?,
        phase_day: small(r, 2, T, "phase_day")?,
        phase: parsed(r, 3, T, "phase", |s| match s {
            "centralised" => Some(Phase::Centralised),
            "home" => Some(Phase::Home),
            _ => None,
        })?,
        date: get(r, 4)?,
        place: parsed(r, 5, T, "place", TestPlace::parse)?,
        status: parsed(r, 6, T, "status", TestStatus::parse)?,
        sampled_at: get(r, 7)?,
        result_at: get(r, 8)?,
    })
}

const CHECK_COLS: &str = "id, order_id, at, temperature_tenths, symptoms, note, alarm, by_user_id, by_user";

fn check(r: &Row) -> Result<HealthCheck> {
    const T: &str = "health check";
    let tenths: i32 = get(r, 3)?;
    let symptoms: Vec<String> = get(r, 4)?;
    Ok(HealthCheck {
        id: get(r, 0)?,
        check: NewHealthCheck {
            order_id: get(r, 1)?,
            at: get(r, 2)?,
            temperature: Celsius::from_tenths(u16::try_from(tenths).map_err(|_| corrupt(T, id_of(r), "temperature"))?),
            symptoms: symptoms
                .iter()
                .map(|s| Symptom::parse(s).ok_or_else(|| corrupt(T, id_of(r), "symptoms")))
                .collect::<Result<_>>()?,
            note: get(r, 5)?,
            alarm: get(r, 6)?,
            by_id: get(r, 7)?,
            by: get(r, 8)?,
        },
    })
}

// ---- sites and rooms -----------------------------------------------------------------------

const SITE_COLS: &str =
    "id, name, kind, address, area_code, manager, manager_user_id, manager_phone, categories, created_at";

fn site(r: &Row) -> Result<Site> {
    const T: &str = "quarantine site";
    let cats: Vec<String> = get(r, 8)?;
    Ok(Site {
        id: get(r, 0)?,
        site: NewSite {
            name: get(r, 1)?,
            kind: parsed(r, 2, T, "kind", SiteKind::parse)?,
            address: get(r, 3)?,
            area: parsed(r, 4, T, "area_code", area)?,
            manager: get(r, 5)?,
            manager_user_id: get(r, 6)?,
            manager_phone: opt_parsed(r, 7, T, "manager_phone", |s| Phone::parse(s).ok())?,
            categories: cats
                .iter()
                .map(|s| Category::parse(s).ok_or_else(|| corrupt(T, id_of(r), "categories")))
                .collect::<Result<_>>()?,
            created_at: get(r, 9)?,
        },
    })
}

const ROOM_COLS: &str = "id, site_id, floor, number, beds, state, state_at";

fn room(r: &Row) -> Result<Room> {
    const T: &str = "quarantine room";
    Ok(Room {
        id: get(r, 0)?,
        site_id: get(r, 1)?,
        floor: get(r, 2)?,
        number: get(r, 3)?,
        beds: small(r, 4, T, "beds")?,
        state: parsed(r, 5, T, "state", RoomState::parse)?,
        state_at: get(r, 6)?,
    })
}

async fn site_slots<C: GenericClient + Sync>(c: &C, q: &SiteQuery, k: &Keys) -> Result<Vec<SiteSlots>> {
    let mut f = Filter::default();
    match q {
        SiteQuery::Ids(ids) => f.any_i64("id", ids),
        SiteQuery::Under(roots) if roots.is_empty() => {}
        SiteQuery::Under(roots) => f.under("area_code", roots),
        SiteQuery::OfRooms(rooms) => {
            if rooms.is_empty() {
                return Ok(Vec::new());
            }
            let n = f.next(Box::new(rooms.clone()));
            f.parts.push(format!("id IN (SELECT site_id FROM quarantine_rooms WHERE id = ANY({n}))"));
        }
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {SITE_COLS} FROM quarantine_sites s WHERE {} ORDER BY id", f.sql());
    let sites: Vec<Site> = rows(c, &sql, &f.refs()).await?.iter().map(site).collect::<Result<_>>()?;
    if sites.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = sites.iter().map(|s| s.id).collect();
    let room_rows = rows(
        c,
        &format!(
            "SELECT {ROOM_COLS} FROM quarantine_rooms r WHERE site_id = ANY($1) ORDER BY site_id, floor, id{}",
            lock(k, "r")
        ),
        &[&ids],
    )
    .await?;
    let occupant_rows = rows(
        c,
        &format!(
            "SELECT o.id, o.room_id, o.category, o.household_id FROM quarantine_orders o \
             JOIN quarantine_rooms r ON r.id = o.room_id WHERE r.site_id = ANY($1) AND o.state IN {OPEN_STATES} \
             ORDER BY o.id"
        ),
        &[&ids],
    )
    .await?;
    let mut by_room: BTreeMap<i64, Vec<Occupant>> = BTreeMap::new();
    for r in &occupant_rows {
        by_room.entry(get(r, 1)?).or_default().push(Occupant {
            order_id: get(r, 0)?,
            category: parsed(r, 2, "quarantine order", "category", Category::parse)?,
            household_id: get(r, 3)?,
        });
    }
    let mut by_site: BTreeMap<i64, Vec<RoomSlot>> = BTreeMap::new();
    for r in &room_rows {
        let room = room(r)?;
        let occupants = by_room.remove(&room.id).unwrap_or_default();
        by_site.entry(room.site_id).or_default().push(RoomSlot { room, occupants });
    }
    Ok(sites.into_iter().map(|s| SiteSlots { rooms: by_site.remove(&s.id).unwrap_or_default(), site: s }).collect())
}

// ---- queue ---------------------------------------------------------------------------------

const QUEUE_COLS: &str = "contact_id, resident_id, name, id_number, phone, unit_code, address, household_id, class, \
     last_exposure, identified_at, deadline, status, order_id, updated_at";

fn queue_entry(r: &Row) -> Result<QueueEntry> {
    const T: &str = "isolation queue entry";
    Ok(QueueEntry {
        candidate: IsolationCandidate {
            contact_id: get(r, 0)?,
            person: Person {
                resident_id: get(r, 1)?,
                name: parsed(r, 2, T, "name", |s| PersonName::parse(s).ok())?,
                id_number: opt_parsed(r, 3, T, "id_number", |s| IdNumber::parse(s).ok())?,
                phone: opt_parsed(r, 4, T, "phone", |s| Phone::parse(s).ok())?,
                unit: opt_parsed(r, 5, T, "unit_code", area)?,
                address: get(r, 6)?,
                household_id: get(r, 7)?,
            },
            class: parsed(r, 8, T, "class", |s| match s {
                "close" => Some(ContactClass::Close),
                "secondary" => Some(ContactClass::Secondary),
                _ => None,
            })?,
            last_exposure: get(r, 9)?,
            identified_at: get(r, 10)?,
            deadline: get(r, 11)?,
        },
        status: parsed(r, 12, T, "status", QueueStatus::parse)?,
        order_id: get(r, 13)?,
        updated_at: get(r, 14)?,
    })
}

async fn queue<C: GenericClient + Sync>(c: &C, q: &QueueQuery, k: &Keys) -> Result<Vec<QueueEntry>> {
    let mut f = Filter::default();
    let mut tail = " ORDER BY contact_id".to_string();
    match q {
        QueueQuery::Contacts(ids) => f.any_i64("contact_id", ids),
        QueueQuery::Status { statuses, roots, limit } => {
            if !statuses.is_empty() {
                f.any_text("status", statuses.iter().map(|s| s.as_str().to_string()).collect());
            }
            if let Some(r) = roots {
                f.under("unit_code", r);
            }
            tail = format!(" ORDER BY deadline, contact_id LIMIT {limit}");
        }
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {QUEUE_COLS} FROM isolation_queue q WHERE {}{tail}{}", f.sql(), lock(k, "q"));
    rows(c, &sql, &f.refs()).await?.iter().map(queue_entry).collect()
}

// ---- transfer ------------------------------------------------------------------------------

const RUN_COLS: &str =
    "id, plate, driver, driver_user_id, team, seats, site_id, state, dispatched_at, dispatched_by, completed_at";

fn run(r: &Row) -> Result<TransferRun> {
    const T: &str = "transfer run";
    Ok(TransferRun {
        id: get(r, 0)?,
        vehicle: Vehicle {
            plate: get(r, 1)?,
            driver: get(r, 2)?,
            driver_user_id: get(r, 3)?,
            team: get(r, 4)?,
            seats: small(r, 5, T, "seats")?,
        },
        site_id: get(r, 6)?,
        state: parsed(r, 7, T, "state", RunState::parse)?,
        dispatched_at: get(r, 8)?,
        dispatched_by: get(r, 9)?,
        completed_at: get(r, 10)?,
    })
}

async fn runs<C: GenericClient + Sync>(c: &C, q: &RunQuery, k: &Keys) -> Result<Vec<TransferRun>> {
    let mut f = Filter::default();
    match q {
        RunQuery::Ids(ids) => f.any_i64("id", ids),
        RunQuery::Driver(user) => {
            f.raw("state = 'dispatched'");
            f.eq_i64("driver_user_id", *user);
        }
        RunQuery::Open => f.raw("state = 'dispatched'"),
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {RUN_COLS} FROM transfer_runs t WHERE {} ORDER BY id{}", f.sql(), lock(k, "t"));
    rows(c, &sql, &f.refs()).await?.iter().map(run).collect()
}

// ---- zones ---------------------------------------------------------------------------------

const ZONE_COLS: &str = "z.id, z.area_code, z.level, z.reason, z.starts_at, z.ends_at, z.designated_by, z.created_at, \
     EXISTS (SELECT 1 FROM zone_events e WHERE e.kind = 'stepped' AND e.new_zone_id = z.id AND e.from_level = 'high')";

fn zone(r: &Row) -> Result<(RiskZone, bool)> {
    const T: &str = "risk zone";
    Ok((
        RiskZone {
            id: get(r, 0)?,
            area: parsed(r, 1, T, "area_code", area)?,
            level: parsed(r, 2, T, "level", level)?,
            reason: get(r, 3)?,
            starts_at: get(r, 4)?,
            ends_at: get(r, 5)?,
            designated_by: get(r, 6)?,
            created_at: get(r, 7)?,
        },
        get(r, 8)?,
    ))
}

async fn zones<C: GenericClient + Sync>(
    c: &C,
    q: &ZoneQuery,
    clock: Option<&ClockKeys>,
    k: &Keys,
) -> Result<Vec<ZoneFacts>> {
    let mut f = Filter::default();
    match q {
        ZoneQuery::Ids(ids) => f.any_i64("z.id", ids),
        ZoneQuery::OpenOn(areas) => {
            f.any_text("z.area_code", areas.iter().map(|a| a.as_str().to_string()).collect());
            f.raw("z.ends_at IS NULL");
        }
        ZoneQuery::OpenUnder(roots) => {
            if !roots.is_empty() {
                f.under("z.area_code", roots);
            }
            f.raw("z.ends_at IS NULL");
        }
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {ZONE_COLS} FROM risk_zones z WHERE {} ORDER BY z.id{}", f.sql(), lock(k, "z"));
    let found: Vec<(RiskZone, bool)> = rows(c, &sql, &f.refs()).await?.iter().map(zone).collect::<Result<_>>()?;
    let Some(k) = clock else {
        return Ok(found
            .into_iter()
            .map(|(zone, came_from_high)| ZoneFacts { zone, came_from_high, last_infection: None, rounds: Vec::new() })
            .collect());
    };
    // One round trip for every zone's latest infection, one for the day's rounds (a
    // district's zone clock has hundreds of zones); only zones with a round of the day
    // fetch its people.
    let areas: Vec<&AreaCode> = found.iter().map(|(z, _)| &z.area).collect();
    let infections = last_infections(c, &areas, k.at).await?;
    let day_rounds: Vec<(i64, String)> = match k.round_date {
        Some(d) => rows(c, "SELECT id, area_code FROM test_rounds WHERE date = $1 ORDER BY id", &[&d])
            .await?
            .iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(found.len());
    for ((z, came_from_high), last_infection) in found.into_iter().zip(infections) {
        let lineage: Vec<String> = z.area.lineage().iter().map(|a| a.as_str().to_string()).collect();
        let ids: Vec<i64> = day_rounds.iter().filter(|(_, a)| lineage.contains(a)).map(|(id, _)| *id).collect();
        let rounds = if ids.is_empty() { Vec::new() } else { round_people(c, &z.area, &ids).await? };
        out.push(ZoneFacts { zone: z, came_from_high, last_infection, rounds });
    }
    Ok(out)
}

/// The latest case living under each area up to `at`, in the order of `areas`.
async fn last_infections<C: GenericClient + Sync>(
    c: &C,
    areas: &[&AreaCode],
    at: DateTime<Utc>,
) -> Result<Vec<Option<DateTime<Utc>>>> {
    if areas.is_empty() {
        return Ok(Vec::new());
    }
    let lo: Vec<String> = areas.iter().map(|a| a.as_str().to_string()).collect();
    let hi: Vec<String> = areas.iter().map(|a| a.range_end()).collect();
    let found = rows(
        c,
        "SELECT a.i, (SELECT max(c.at) FROM cases c JOIN residents r ON r.id = c.resident_id \
                      WHERE r.unit_code >= a.lo AND r.unit_code < a.hi AND c.at <= $3) \
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS a(lo, hi, i) ORDER BY a.i",
        &[&lo, &hi, &at],
    )
    .await?;
    let out: Vec<Option<DateTime<Utc>>> = found.iter().map(|r| get(r, 1)).collect::<Result<_>>()?;
    if out.len() != areas.len() {
        return Err(StoreError::Backend("the latest infection per zone: one row per zone expected".into()));
    }
    Ok(out)
}

/// Every active resident of `area` in each of the rounds `ids`.
async fn round_people<C: GenericClient + Sync>(c: &C, area: &AreaCode, ids: &[i64]) -> Result<Vec<ZoneRound>> {
    let mut out = Vec::with_capacity(ids.len());
    for &round in ids {
        let people = rows(
            c,
            "SELECT r.id, \
               EXISTS (SELECT 1 FROM cases x WHERE x.resident_id = r.id), \
               EXISTS (SELECT 1 FROM quarantine_orders o WHERE o.resident_id = r.id AND o.kind = 'centralised' \
                       AND o.state IN ('in_transfer', 'in_quarantine')), \
               EXISTS (SELECT 1 FROM exemptions e WHERE e.round_id = $3 AND e.resident_id = r.id), \
               s.id IS NOT NULL, \
               coalesce(t.result = 'negative', false) \
             FROM residents r \
             LEFT JOIN samples s ON s.round_id = $3 AND s.resident_id = r.id \
             LEFT JOIN tubes t ON t.id = s.tube_id \
             WHERE r.unit_code >= $1 AND r.unit_code < $2 AND r.status = 'active' ORDER BY r.id",
            &[&area.as_str(), &area.range_end(), &round],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(RoundPerson {
                resident_id: get(r, 0)?,
                case: get(r, 1)?,
                away: get(r, 2)?,
                exempt: get(r, 3)?,
                sampled: get(r, 4)?,
                negative: get(r, 5)?,
            })
        })
        .collect::<Result<_>>()?;
        out.push(ZoneRound { round_id: round, people });
    }
    Ok(out)
}

const PROPOSAL_COLS: &str =
    "id, case_id, case_unit, area_code, level, reason, proposed_at, status, decided_at, decided_by, zone_id";

fn proposal(r: &Row) -> Result<ZoneProposal> {
    const T: &str = "zone proposal";
    Ok(ZoneProposal {
        id: get(r, 0)?,
        proposed: ProposedZone {
            case_id: get(r, 1)?,
            case_unit: parsed(r, 2, T, "case_unit", area)?,
            area: parsed(r, 3, T, "area_code", area)?,
            level: parsed(r, 4, T, "level", level)?,
            reason: get(r, 5)?,
            proposed_at: get(r, 6)?,
        },
        status: parsed(r, 7, T, "status", ProposalStatus::parse)?,
        decided_at: get(r, 8)?,
        decided_by: get(r, 9)?,
        zone_id: get(r, 10)?,
    })
}

async fn proposals<C: GenericClient + Sync>(c: &C, q: &ProposalQuery, k: &Keys) -> Result<Vec<ZoneProposal>> {
    let mut f = Filter::default();
    let mut tail = " ORDER BY id".to_string();
    match q {
        ProposalQuery::Ids(ids) => f.any_i64("id", ids),
        ProposalQuery::Under { roots, open_only, limit } => {
            if !roots.is_empty() {
                f.under("area_code", roots);
            }
            if *open_only {
                f.raw("status = 'proposed'");
            }
            tail = format!(" ORDER BY id DESC LIMIT {limit}");
        }
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {PROPOSAL_COLS} FROM zone_proposals p WHERE {}{tail}{}", f.sql(), lock(k, "p"));
    let mut out: Vec<ZoneProposal> = rows(c, &sql, &f.refs()).await?.iter().map(proposal).collect::<Result<_>>()?;
    out.sort_by_key(|p| p.id);
    Ok(out)
}

const EVENT_COLS: &str =
    "id, kind, area_code, zone_id, new_zone_id, from_level, to_level, proposal_id, day, at, by_user, note";

fn zone_event(r: &Row) -> Result<ZoneEvent> {
    const T: &str = "zone event";
    Ok(ZoneEvent {
        id: get(r, 0)?,
        kind: parsed(r, 1, T, "kind", ZoneEventKind::parse)?,
        area: parsed(r, 2, T, "area_code", area)?,
        zone_id: get(r, 3)?,
        new_zone_id: get(r, 4)?,
        from_level: opt_parsed(r, 5, T, "from_level", level)?,
        to_level: opt_parsed(r, 6, T, "to_level", level)?,
        proposal_id: get(r, 7)?,
        day: get(r, 8)?,
        at: get(r, 9)?,
        by: get(r, 10)?,
        note: get(r, 11)?,
    })
}

const RUN_DAY_COLS: &str = "day, at, applied_at, by_user, steps, held, profile";

fn zone_run(r: &Row) -> Result<ZoneRunRecord> {
    const T: &str = "zone run";
    Ok(ZoneRunRecord {
        date: get(r, 0)?,
        at: get(r, 1)?,
        applied_at: get(r, 2)?,
        by: get(r, 3)?,
        steps: small(r, 4, T, "steps")?,
        held: small(r, 5, T, "held")?,
        profile: get(r, 6)?,
    })
}

// ---- all of it -------------------------------------------------------------------------------

/// Everything `k` asks for, inside the caller's transaction (or on a plain connection
/// for reads). `exclusive` takes a transaction advisory lock first.
pub(crate) async fn fetch<C: GenericClient + Sync>(c: &C, k: &Keys) -> Result<Facts> {
    if let Some(name) = k.exclusive {
        c.execute("SELECT pg_advisory_xact_lock(hashtext($1), hashtext(coalesce(current_schema(), '')))", &[&name])
            .await
            .db()?;
    }
    let mut facts = Facts::default();
    if let Some(q) = &k.runs {
        facts.runs = runs(c, q, k).await?;
    }
    let mut by_id: BTreeMap<i64, Order> = BTreeMap::new();
    let mut queries = k.orders.clone();
    if k.orders_of_runs && !facts.runs.is_empty() {
        queries.push(OrderQuery { run_ids: Some(facts.runs.iter().map(|r| r.id).collect()), ..OrderQuery::default() });
    }
    for q in &queries {
        for o in orders(c, q, k).await? {
            by_id.insert(o.id, o);
        }
    }
    if !by_id.is_empty() {
        let ids: Vec<i64> = by_id.keys().copied().collect();
        let tests: Vec<OrderTest> = rows(
            c,
            &format!("SELECT {TEST_COLS} FROM order_tests WHERE order_id = ANY($1) ORDER BY order_id, day"),
            &[&ids],
        )
        .await?
        .iter()
        .map(test)
        .collect::<Result<_>>()?;
        for t in &tests {
            if let Some(o) = by_id.get_mut(&t.order_id) {
                o.schedule.tests.push(TestDay { day: t.day, phase_day: t.phase_day, phase: t.phase, date: t.date });
            }
        }
        facts.tests = tests;
        if let Some(since) = k.checks_since {
            facts.checks = rows(
                c,
                &format!("SELECT {CHECK_COLS} FROM health_checks WHERE order_id = ANY($1) AND at >= $2 ORDER BY id"),
                &[&ids, &since],
            )
            .await?
            .iter()
            .map(check)
            .collect::<Result<_>>()?;
        }
    }
    facts.orders = by_id.into_values().collect();
    if let Some(q) = &k.sites {
        facts.sites = site_slots(c, q, k).await?;
    }
    if let Some(q) = &k.queue {
        let mut found = queue(c, q, k).await?;
        found.sort_by_key(|e| e.candidate.contact_id);
        facts.queue = found;
    }
    if !k.residents.is_empty() {
        let sql = format!(
            "SELECT {} FROM residents r JOIN households h ON h.id = r.household_id WHERE r.id = ANY($1) ORDER BY r.id",
            crate::rows::RESIDENT_COLUMNS
        );
        facts.residents =
            rows(c, &sql, &[&k.residents]).await?.iter().map(crate::rows::resident).collect::<Result<_>>()?;
    }
    if let Some(key) = &k.device_op {
        facts.device_op = match c
            .query_opt("SELECT key, kind, run_id, order_id, at FROM device_ops WHERE key = $1", &[key])
            .await
            .db()?
        {
            Some(r) => Some(DeviceOp {
                key: get(&r, 0)?,
                kind: get(&r, 1)?,
                run_id: get(&r, 2)?,
                order_id: get(&r, 3)?,
                at: get(&r, 4)?,
            }),
            None => None,
        };
    }
    if let Some(q) = &k.zones {
        facts.zones = zones(c, q, k.zone_clock.as_ref(), k).await?;
    }
    if let Some(q) = &k.proposals {
        facts.proposals = proposals(c, q, k).await?;
    }
    if !k.areas.is_empty() {
        let codes: Vec<String> = k.areas.iter().map(|a| a.as_str().to_string()).collect();
        let found: Vec<String> = rows(c, "SELECT code FROM areas WHERE code = ANY($1)", &[&codes])
            .await?
            .iter()
            .map(|r| get(r, 0))
            .collect::<Result<_>>()?;
        facts.areas = k.areas.iter().filter(|a| found.iter().any(|f| f == a.as_str())).cloned().collect();
    }
    if let Some(limit) = k.new_cases {
        facts.cases = rows(
            c,
            "SELECT c.id, c.resident_id, r.unit_code, c.at FROM cases c JOIN residents r ON r.id = c.resident_id \
             WHERE NOT EXISTS (SELECT 1 FROM zone_cases_seen s WHERE s.case_id = c.id) ORDER BY c.id LIMIT $1",
            &[&i64::from(limit)],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(CaseHome {
                case_id: get(r, 0)?,
                resident_id: get(r, 1)?,
                unit: parsed(r, 2, "case", "unit_code", area)?,
                at: get(r, 3)?,
            })
        })
        .collect::<Result<_>>()?;
    }
    if let Some(d) = k.zone_run {
        facts.zone_run = rows(c, &format!("SELECT {RUN_DAY_COLS} FROM zone_runs WHERE day = $1"), &[&d])
            .await?
            .first()
            .map(zone_run)
            .transpose()?;
    }
    if k.last_zone_run {
        facts.last_zone_run = rows(c, &format!("SELECT {RUN_DAY_COLS} FROM zone_runs ORDER BY day DESC LIMIT 1"), &[])
            .await?
            .first()
            .map(zone_run)
            .transpose()?;
    }
    if let Some(limit) = k.zone_runs {
        facts.zone_runs =
            rows(c, &format!("SELECT {RUN_DAY_COLS} FROM zone_runs ORDER BY day DESC LIMIT $1"), &[&i64::from(limit)])
                .await?
                .iter()
                .map(zone_run)
                .collect::<Result<_>>()?;
    }
    if !k.tube_members.is_empty() {
        let found = rows(
            c,
            "SELECT tube_id, resident_id, at FROM samples WHERE tube_id = ANY($1) ORDER BY tube_id, resident_id",
            &[&k.tube_members],
        )
        .await?;
        for r in &found {
            facts.tube_members.push((get(r, 0)?, get(r, 1)?, get(r, 2)?));
        }
    }
    if let Some((roots, limit)) = &k.zone_events {
        let mut f = Filter::default();
        if !roots.is_empty() {
            f.under("area_code", roots);
        }
        if !f.empty {
            let sql = format!("SELECT {EVENT_COLS} FROM zone_events WHERE {} ORDER BY id DESC LIMIT {limit}", f.sql());
            facts.zone_events = rows(c, &sql, &f.refs()).await?.iter().map(zone_event).collect::<Result<_>>()?;
        }
    }
    Ok(facts)
}

/// The resident's open order as (state, centralised), if any.
pub(crate) async fn open_order_of<C: GenericClient + Sync>(
    c: &C,
    resident_id: i64,
) -> Result<Option<(OrderState, bool)>> {
    let row = c
        .query_opt(
            &format!("SELECT id, state, kind FROM quarantine_orders WHERE resident_id = $1 AND state IN {OPEN_STATES} LIMIT 1"),
            &[&resident_id],
        )
        .await
        .db()?;
    row.map(|r| {
        Ok((parsed(&r, 1, "quarantine order", "state", OrderState::parse)?, get::<&str>(&r, 2)? == "centralised"))
    })
    .transpose()
}

pub(crate) fn i32_of(n: u32) -> i32 {
    small_i32(n)
}
