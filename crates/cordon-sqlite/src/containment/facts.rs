//! The containment facts on SQLite: each part of [`Keys`] as SQL, each row parsed back
//! into domain values (a damaged row is an error naming the table, row id and column,
//! never the value). No rule lives here.

use crate::rows::{OrBackend, ts};
use chrono::{DateTime, NaiveDate, Utc};
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
use cordon_store::containment::facts::{
    ClockKeys, Facts, Keys, OrderQuery, ProposalQuery, QueueQuery, RunQuery, SiteQuery, ZoneQuery,
};
use cordon_store::containment::{
    DeviceOp, IsolationCandidate, QueueEntry, QueueStatus, ZoneEvent, ZoneEventKind, ZoneRunRecord,
};
use cordon_store::{Result, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::BTreeMap;

// ---- cells: one row read as values, parsed with the table and id in every error ----------

pub(crate) struct Cells {
    table: &'static str,
    v: Vec<Value>,
}

impl Cells {
    pub(crate) fn read(row: &Row<'_>, n: usize, table: &'static str) -> rusqlite::Result<Cells> {
        Ok(Cells { table, v: (0..n).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()? })
    }
    fn id(&self) -> String {
        match self.v.first() {
            Some(Value::Integer(i)) => i.to_string(),
            Some(Value::Text(t)) => t.clone(),
            _ => "?".into(),
        }
    }
    fn bad(&self, col: &str) -> StoreError {
        StoreError::Backend(format!("stored {} {} has an invalid {col}", self.table, self.id()))
    }
    fn opt_int(&self, i: usize) -> Option<i64> {
        match self.v.get(i) {
            Some(Value::Integer(n)) => Some(*n),
            _ => None,
        }
    }
    fn int(&self, i: usize, col: &str) -> Result<i64> {
        self.opt_int(i).ok_or_else(|| self.bad(col))
    }
    fn u32(&self, i: usize, col: &str) -> Result<u32> {
        u32::try_from(self.int(i, col)?).map_err(|_| self.bad(col))
    }
    fn opt_text(&self, i: usize) -> Option<&str> {
        match self.v.get(i) {
            Some(Value::Text(t)) => Some(t.as_str()),
            _ => None,
        }
    }
    fn text(&self, i: usize, col: &str) -> Result<String> {
        self.opt_text(i).map(str::to_string).ok_or_else(|| self.bad(col))
    }
    fn parse<T>(&self, i: usize, col: &str, f: impl Fn(&str) -> Option<T>) -> Result<T> {
        self.opt_text(i).and_then(f).ok_or_else(|| self.bad(col))
    }
    fn opt_parse<T>(&self, i: usize, col: &str, f: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
        self.opt_text(i).map(|s| f(s).ok_or_else(|| self.bad(col))).transpose()
    }
    fn ts(&self, i: usize, col: &str) -> Result<DateTime<Utc>> {
        self.parse(i, col, parse_ts)
    }
    fn opt_ts(&self, i: usize, col: &str) -> Result<Option<DateTime<Utc>>> {
        self.opt_parse(i, col, parse_ts)
    }
    fn date(&self, i: usize, col: &str) -> Result<NaiveDate> {
        self.parse(i, col, parse_date)
    }
    fn opt_date(&self, i: usize, col: &str) -> Result<Option<NaiveDate>> {
        self.opt_parse(i, col, parse_date)
    }
    fn area(&self, i: usize, col: &str) -> Result<AreaCode> {
        self.parse(i, col, |s| AreaCode::parse(s).ok())
    }
    fn opt_area(&self, i: usize, col: &str) -> Result<Option<AreaCode>> {
        self.opt_parse(i, col, |s| AreaCode::parse(s).ok())
    }
    fn bool(&self, i: usize) -> bool {
        self.opt_int(i).is_some_and(|n| n != 0)
    }
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

pub(crate) fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn level(s: &str) -> Option<ZoneLevel> {
    ZoneLevel::parse(s).ok()
}

// ---- query building ----------------------------------------------------------------------

/// A WHERE clause with its parameters.
#[derive(Default)]
struct Filter {
    parts: Vec<String>,
    params: Vec<Value>,
    /// A filter on an empty list: nothing can match.
    empty: bool,
}

impl Filter {
    fn is_in(&mut self, col: &str, values: Vec<Value>) {
        if values.is_empty() {
            self.empty = true;
            return;
        }
        self.parts.push(format!("{col} IN ({})", vec!["?"; values.len()].join(", ")));
        self.params.extend(values);
    }
    fn under(&mut self, col: &str, roots: &[AreaCode]) {
        if roots.is_empty() {
            self.empty = true;
            return;
        }
        let ors: Vec<String> = roots.iter().map(|_| format!("({col} >= ? AND {col} < ?)")).collect();
        self.parts.push(format!("({})", ors.join(" OR ")));
        for r in roots {
            self.params.push(Value::Text(r.as_str().to_string()));
            self.params.push(Value::Text(r.range_end()));
        }
    }
    fn raw(&mut self, sql: &str) {
        self.parts.push(sql.to_string());
    }
    fn sql(&self) -> String {
        if self.parts.is_empty() { "1 = 1".into() } else { self.parts.join(" AND ") }
    }
}

fn ints(v: &[i64]) -> Vec<Value> {
    v.iter().map(|i| Value::Integer(*i)).collect()
}

fn texts<'a>(v: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
    v.into_iter().map(|s| Value::Text(s.to_string())).collect()
}

const OPEN_STATES: &str = "('ordered', 'in_transfer', 'in_quarantine', 'home_monitoring')";

// ---- orders --------------------------------------------------------------------------------

pub(crate) const ORDER_COLS: &str = "id, resident_id, name, id_number, phone, unit_code, address, household_id, \
     category, contact_id, reason, kind, last_exposure, start_date, centralised_until, end_date, centralised_days, \
     home_days, state, transfer_state, run_id, site_id, room_id, identified_at, ordered_at, ordered_by, picked_up_at, \
     picked_up_by, arrived_at, arrived_by, in_quarantine_at, released_at, released_by, closed_at, closed_by, case_at";
const ORDER_N: usize = 36;

fn order(c: &Cells) -> Result<Order> {
    let kind = match c.text(11, "kind")?.as_str() {
        "centralised" => QuarantineKind::Centralised,
        "home" => QuarantineKind::Home,
        _ => return Err(c.bad("kind")),
    };
    Ok(Order {
        id: c.int(0, "id")?,
        person: Person {
            resident_id: c.opt_int(1),
            name: c.parse(2, "name", |s| PersonName::parse(s).ok())?,
            id_number: c.opt_parse(3, "id_number", |s| IdNumber::parse(s).ok())?,
            phone: c.opt_parse(4, "phone", |s| Phone::parse(s).ok())?,
            unit: c.opt_area(5, "unit_code")?,
            address: c.text(6, "address")?,
            household_id: c.opt_int(7),
        },
        category: c.parse(8, "category", Category::parse)?,
        contact_id: c.opt_int(9),
        reason: c.text(10, "reason")?,
        schedule: Schedule {
            kind,
            last_exposure: c.date(12, "last_exposure")?,
            start: c.date(13, "start_date")?,
            centralised_until: c.opt_date(14, "centralised_until")?,
            end: c.date(15, "end_date")?,
            centralised_days: c.u32(16, "centralised_days")?,
            home_days: c.u32(17, "home_days")?,
            tests: Vec::new(),
        },
        state: c.parse(18, "state", OrderState::parse)?,
        transfer: c.opt_parse(19, "transfer_state", TransferState::parse)?,
        run_id: c.opt_int(20),
        site_id: c.opt_int(21),
        room_id: c.opt_int(22),
        identified_at: c.ts(23, "identified_at")?,
        ordered_at: c.ts(24, "ordered_at")?,
        ordered_by: c.text(25, "ordered_by")?,
        picked_up_at: c.opt_ts(26, "picked_up_at")?,
        picked_up_by: c.opt_text(27).map(str::to_string),
        arrived_at: c.opt_ts(28, "arrived_at")?,
        arrived_by: c.opt_text(29).map(str::to_string),
        in_quarantine_at: c.opt_ts(30, "in_quarantine_at")?,
        released_at: c.opt_ts(31, "released_at")?,
        released_by: c.opt_text(32).map(str::to_string),
        closed_at: c.opt_ts(33, "closed_at")?,
        closed_by: c.opt_text(34).map(str::to_string),
        case_at: c.opt_ts(35, "case_at")?,
    })
}

fn rows<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: &[Value],
    n: usize,
    table: &'static str,
    map: impl Fn(&Cells) -> Result<T>,
) -> Result<Vec<T>> {
    let rows = stmt.query_map(params_from_iter(params.iter()), |r| Cells::read(r, n, table)).db()?;
    let mut out = Vec::new();
    for r in rows {
        out.push(map(&r.db()?)?);
    }
    Ok(out)
}

/// A fixed statement (kept in the connection's statement cache).
fn query<T>(
    c: &Connection,
    sql: &str,
    params: &[Value],
    n: usize,
    table: &'static str,
    map: impl Fn(&Cells) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).db()?;
    rows(&mut stmt, params, n, table, map)
}

/// A statement built for this call (lists of ids): prepared once, not cached, so it
/// does not push the fixed statements out of the cache.
fn query_dyn<T>(
    c: &Connection,
    sql: &str,
    params: &[Value],
    n: usize,
    table: &'static str,
    map: impl Fn(&Cells) -> Result<T>,
) -> Result<Vec<T>> {
    rows(&mut c.prepare(sql).db()?, params, n, table, map)
}

fn orders(c: &Connection, q: &OrderQuery) -> Result<Vec<Order>> {
    let mut f = Filter::default();
    if let Some(v) = &q.ids {
        f.is_in("id", ints(v));
    }
    if let Some(v) = &q.run_ids {
        f.is_in("run_id", ints(v));
    }
    if let Some(v) = &q.site_ids {
        f.is_in("site_id", ints(v));
    }
    if let Some(v) = &q.resident_ids {
        f.is_in("resident_id", ints(v));
    }
    if let Some(v) = &q.id_numbers {
        f.is_in("id_number", texts(v.iter().map(|n| n.as_str())));
    }
    if let Some(v) = &q.roots {
        f.under("unit_code", v);
    }
    if let Some(v) = &q.states {
        f.is_in("state", texts(v.iter().map(|s| s.as_str())));
    }
    if let Some(v) = &q.transfer {
        f.is_in("transfer_state", texts(v.iter().map(|s| s.as_str())));
    }
    if q.open {
        f.raw(&format!("state IN {OPEN_STATES}"));
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let limit = q.limit.map_or(String::new(), |l| format!(" LIMIT {l}"));
    let sql = format!("SELECT {ORDER_COLS} FROM quarantine_orders WHERE {} ORDER BY id{limit}", f.sql());
    query_dyn(c, &sql, &f.params, ORDER_N, "quarantine order", order)
}

const TEST_COLS: &str = "order_id, day, phase_day, phase, date, place, status, sampled_at, result_at";

fn test(c: &Cells) -> Result<OrderTest> {
    Ok(OrderTest {
        order_id: c.int(0, "order_id")?,
        day: c.u32(1, "day")?,
        phase_day: c.u32(2, "phase_day")?,
        phase: c.parse(3, "phase", |s| match s {
            "centralised" => Some(Phase::Centralised),
            "home" => Some(Phase::Home),
            _ => None,
        })?,
        date: c.date(4, "date")?,
        place: c.parse(5, "place", TestPlace::parse)?,
        status: c.parse(6, "status", TestStatus::parse)?,
        sampled_at: c.opt_ts(7, "sampled_at")?,
        result_at: c.opt_ts(8, "result_at")?,
    })
}

fn tests_of(c: &Connection, order_id: i64) -> Result<Vec<OrderTest>> {
    let sql = format!("SELECT {TEST_COLS} FROM order_tests WHERE order_id = ? ORDER BY day");
    query(c, &sql, &[Value::Integer(order_id)], 9, "order test", test)
}

const CHECK_COLS: &str = "id, order_id, at, temperature_tenths, symptoms, note, alarm, by_user_id, by_user";

fn check(c: &Cells) -> Result<HealthCheck> {
    let symptoms = c.text(4, "symptoms")?;
    Ok(HealthCheck {
        id: c.int(0, "id")?,
        check: NewHealthCheck {
            order_id: c.int(1, "order_id")?,
            at: c.ts(2, "at")?,
            temperature: Celsius::from_tenths(
                u16::try_from(c.int(3, "temperature_tenths")?).map_err(|_| c.bad("temperature_tenths"))?,
            ),
            symptoms: symptoms
                .split_whitespace()
                .map(|s| Symptom::parse(s).ok_or_else(|| c.bad("symptoms")))
                .collect::<Result<_>>()?,
            note: c.text(5, "note")?,
            alarm: c.bool(6),
            by_id: c.opt_int(7),
            by: c.text(8, "by_user")?,
        },
    })
}

// ---- sites and rooms -----------------------------------------------------------------------

const SITE_COLS: &str =
    "id, name, kind, address, area_code, manager, manager_user_id, manager_phone, categories, created_at";

fn site(c: &Cells) -> Result<Site> {
    let cats = c.text(8, "categories")?;
    Ok(Site {
        id: c.int(0, "id")?,
        site: NewSite {
            name: c.text(1, "name")?,
            kind: c.parse(2, "kind", SiteKind::parse)?,
            address: c.text(3, "address")?,
            area: c.area(4, "area_code")?,
            manager: c.text(5, "manager")?,
            manager_user_id: c.opt_int(6),
            manager_phone: c.opt_parse(7, "manager_phone", |s| Phone::parse(s).ok())?,
            categories: cats
                .split_whitespace()
                .map(|s| Category::parse(s).ok_or_else(|| c.bad("categories")))
                .collect::<Result<_>>()?,
            created_at: c.ts(9, "created_at")?,
        },
    })
}

const ROOM_COLS: &str = "id, site_id, floor, number, beds, state, state_at";

fn room(c: &Cells) -> Result<Room> {
    Ok(Room {
        id: c.int(0, "id")?,
        site_id: c.int(1, "site_id")?,
        floor: i32::try_from(c.int(2, "floor")?).map_err(|_| c.bad("floor"))?,
        number: c.text(3, "number")?,
        beds: c.u32(4, "beds")?,
        state: c.parse(5, "state", RoomState::parse)?,
        state_at: c.ts(6, "state_at")?,
    })
}

fn site_slots(c: &Connection, q: &SiteQuery) -> Result<Vec<SiteSlots>> {
    let mut f = Filter::default();
    match q {
        SiteQuery::Ids(ids) => f.is_in("id", ints(ids)),
        SiteQuery::Under(roots) if roots.is_empty() => {}
        SiteQuery::Under(roots) => f.under("area_code", roots),
        SiteQuery::OfRooms(rooms) => {
            if rooms.is_empty() {
                return Ok(Vec::new());
            }
            f.parts.push(format!(
                "id IN (SELECT site_id FROM quarantine_rooms WHERE id IN ({}))",
                vec!["?"; rooms.len()].join(", ")
            ));
            f.params.extend(ints(rooms));
        }
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {SITE_COLS} FROM quarantine_sites WHERE {} ORDER BY id", f.sql());
    let sites = query_dyn(c, &sql, &f.params, 10, "quarantine site", site)?;
    let mut out = Vec::with_capacity(sites.len());
    for s in sites {
        let rooms = query(
            c,
            &format!("SELECT {ROOM_COLS} FROM quarantine_rooms WHERE site_id = ? ORDER BY floor, id"),
            &[Value::Integer(s.id)],
            7,
            "quarantine room",
            room,
        )?;
        let occupants = query(
            c,
            &format!(
                "SELECT o.id, o.room_id, o.category, o.household_id FROM quarantine_orders o \
                 JOIN quarantine_rooms r ON r.id = o.room_id WHERE r.site_id = ? AND o.state IN {OPEN_STATES} ORDER BY o.id"
            ),
            &[Value::Integer(s.id)],
            4,
            "quarantine order",
            |c| {
                Ok((
                    c.int(1, "room_id")?,
                    Occupant {
                        order_id: c.int(0, "id")?,
                        category: c.parse(2, "category", Category::parse)?,
                        household_id: c.opt_int(3),
                    },
                ))
            },
        )?;
        let mut by_room: BTreeMap<i64, Vec<Occupant>> = BTreeMap::new();
        for (r, o) in occupants {
            by_room.entry(r).or_default().push(o);
        }
        let rooms = rooms
            .into_iter()
            .map(|r| RoomSlot { occupants: by_room.remove(&r.id).unwrap_or_default(), room: r })
            .collect();
        out.push(SiteSlots { site: s, rooms });
    }
    Ok(out)
}

// ---- queue ---------------------------------------------------------------------------------

const QUEUE_COLS: &str = "contact_id, resident_id, name, id_number, phone, unit_code, address, household_id, class, \
     last_exposure, identified_at, deadline, status, order_id, updated_at";

fn queue_entry(c: &Cells) -> Result<QueueEntry> {
    Ok(QueueEntry {
        candidate: IsolationCandidate {
            contact_id: c.int(0, "contact_id")?,
            person: Person {
                resident_id: c.opt_int(1),
                name: c.parse(2, "name", |s| PersonName::parse(s).ok())?,
                id_number: c.opt_parse(3, "id_number", |s| IdNumber::parse(s).ok())?,
                phone: c.opt_parse(4, "phone", |s| Phone::parse(s).ok())?,
                unit: c.opt_area(5, "unit_code")?,
                address: c.text(6, "address")?,
                household_id: c.opt_int(7),
            },
            class: c.parse(8, "class", |s| match s {
                "close" => Some(ContactClass::Close),
                "secondary" => Some(ContactClass::Secondary),
                _ => None,
            })?,
            last_exposure: c.ts(9, "last_exposure")?,
            identified_at: c.ts(10, "identified_at")?,
            deadline: c.ts(11, "deadline")?,
        },
        status: c.parse(12, "status", QueueStatus::parse)?,
        order_id: c.opt_int(13),
        updated_at: c.ts(14, "updated_at")?,
    })
}

fn queue(c: &Connection, q: &QueueQuery) -> Result<Vec<QueueEntry>> {
    let mut f = Filter::default();
    let mut tail = " ORDER BY contact_id".to_string();
    match q {
        QueueQuery::Contacts(ids) => f.is_in("contact_id", ints(ids)),
        QueueQuery::Status { statuses, roots, limit } => {
            if !statuses.is_empty() {
                f.is_in("status", texts(statuses.iter().map(|s| s.as_str())));
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
    let sql = format!("SELECT {QUEUE_COLS} FROM isolation_queue WHERE {}{tail}", f.sql());
    query_dyn(c, &sql, &f.params, 15, "isolation queue entry", queue_entry)
}

// ---- transfer ------------------------------------------------------------------------------

const RUN_COLS: &str =
    "id, plate, driver, driver_user_id, team, seats, site_id, state, dispatched_at, dispatched_by, completed_at";

fn run(c: &Cells) -> Result<TransferRun> {
    Ok(TransferRun {
        id: c.int(0, "id")?,
        vehicle: Vehicle {
            plate: c.text(1, "plate")?,
            driver: c.text(2, "driver")?,
            driver_user_id: c.opt_int(3),
            team: c.text(4, "team")?,
            seats: c.u32(5, "seats")?,
        },
        site_id: c.int(6, "site_id")?,
        state: c.parse(7, "state", RunState::parse)?,
        dispatched_at: c.ts(8, "dispatched_at")?,
        dispatched_by: c.text(9, "dispatched_by")?,
        completed_at: c.opt_ts(10, "completed_at")?,
    })
}

fn runs(c: &Connection, q: &RunQuery) -> Result<Vec<TransferRun>> {
    let mut f = Filter::default();
    match q {
        RunQuery::Ids(ids) => f.is_in("id", ints(ids)),
        RunQuery::Driver(user) => {
            f.raw("state = 'dispatched'");
            f.parts.push("driver_user_id = ?".into());
            f.params.push(Value::Integer(*user));
        }
        RunQuery::Open => f.raw("state = 'dispatched'"),
    }
    if f.empty {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {RUN_COLS} FROM transfer_runs WHERE {} ORDER BY id", f.sql());
    query_dyn(c, &sql, &f.params, 11, "transfer run", run)
}

fn device_op(c: &Connection, key: &str) -> Result<Option<DeviceOp>> {
    c.prepare_cached("SELECT key, kind, run_id, order_id, at FROM device_ops WHERE key = ?1")
        .db()?
        .query_row([key], |r| Cells::read(r, 5, "device op"))
        .optional()
        .db()?
        .map(|c| {
            Ok(DeviceOp {
                key: c.text(0, "key")?,
                kind: c.text(1, "kind")?,
                run_id: c.int(2, "run_id")?,
                order_id: c.opt_int(3),
                at: c.ts(4, "at")?,
            })
        })
        .transpose()
}

// ---- zones ---------------------------------------------------------------------------------

const ZONE_COLS: &str = "z.id, z.area_code, z.level, z.reason, z.starts_at, z.ends_at, z.designated_by, z.created_at, \
     EXISTS (SELECT 1 FROM zone_events e WHERE e.kind = 'stepped' AND e.new_zone_id = z.id AND e.from_level = 'high')";

fn zone(c: &Cells) -> Result<(RiskZone, bool)> {
    Ok((
        RiskZone {
            id: c.int(0, "id")?,
            area: c.area(1, "area_code")?,
            level: c.parse(2, "level", level)?,
            reason: c.text(3, "reason")?,
            starts_at: c.ts(4, "starts_at")?,
            ends_at: c.opt_ts(5, "ends_at")?,
            designated_by: c.text(6, "designated_by")?,
            created_at: c.ts(7, "created_at")?,
        },
        c.bool(8),
    ))
}

fn zones(c: &Connection, q: &ZoneQuery, clock: Option<&ClockKeys>) -> Result<Vec<ZoneFacts>> {
    let mut f = Filter::default();
    match q {
        ZoneQuery::Ids(ids) => f.is_in("z.id", ints(ids)),
        ZoneQuery::OpenOn(areas) => {
            f.is_in("z.area_code", texts(areas.iter().map(|a| a.as_str())));
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
    let sql = format!("SELECT {ZONE_COLS} FROM risk_zones z WHERE {} ORDER BY z.id", f.sql());
    let found = query_dyn(c, &sql, &f.params, 9, "risk zone", zone)?;
    let mut out = Vec::with_capacity(found.len());
    for (z, came_from_high) in found {
        let (last_infection, rounds) = match clock {
            Some(k) => (
                last_infection(c, &z.area, k.at)?,
                match k.round_date {
                    Some(d) => rounds(c, &z.area, d)?,
                    None => Vec::new(),
                },
            ),
            None => (None, Vec::new()),
        };
        out.push(ZoneFacts { zone: z, came_from_high, last_infection, rounds });
    }
    Ok(out)
}

fn last_infection(c: &Connection, area: &AreaCode, at: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let t: Option<String> = c
        .prepare_cached(
            "SELECT max(c.at) FROM cases c JOIN residents r ON r.id = c.resident_id \
             WHERE r.unit_code >= ?1 AND r.unit_code < ?2 AND c.at <= ?3",
        )
        .db()?
        .query_row(params![area.as_str(), area.range_end(), ts(at)], |r| r.get(0))
        .db()?;
    t.map(|s| parse_ts(&s).ok_or_else(|| StoreError::Backend("stored case has an invalid timestamp".into())))
        .transpose()
}

fn rounds(c: &Connection, area: &AreaCode, day: NaiveDate) -> Result<Vec<ZoneRound>> {
    let lineage: Vec<String> = area.lineage().iter().map(|a| a.as_str().to_string()).collect();
    let sql = format!(
        "SELECT id FROM test_rounds WHERE date = ? AND area_code IN ({}) ORDER BY id",
        vec!["?"; lineage.len()].join(", ")
    );
    let mut p = vec![Value::Text(date(day))];
    p.extend(lineage.into_iter().map(Value::Text));
    let ids = query_dyn(c, &sql, &p, 1, "test round", |c| c.int(0, "id"))?;
    let mut out = Vec::with_capacity(ids.len());
    for round in ids {
        let people = query(
            c,
            "SELECT r.id, \
                   EXISTS (SELECT 1 FROM cases x WHERE x.resident_id = r.id), \
                   EXISTS (SELECT 1 FROM quarantine_orders o WHERE o.resident_id = r.id AND o.kind = 'centralised' \
                           AND o.state IN ('in_transfer', 'in_quarantine')), \
                   EXISTS (SELECT 1 FROM exemptions e WHERE e.round_id = ?3 AND e.resident_id = r.id), \
                   s.id IS NOT NULL, \
                   coalesce(t.result = 'negative', 0) \
                 FROM residents r \
                 LEFT JOIN samples s ON s.round_id = ?3 AND s.resident_id = r.id \
                 LEFT JOIN tubes t ON t.id = s.tube_id \
                 WHERE r.unit_code >= ?1 AND r.unit_code < ?2 AND r.status = 'active' ORDER BY r.id",
            &[Value::Text(area.as_str().to_string()), Value::Text(area.range_end()), Value::Integer(round)],
            6,
            "resident",
            |c| {
                Ok(RoundPerson {
                    resident_id: c.int(0, "id")?,
                    case: c.bool(1),
                    away: c.bool(2),
                    exempt: c.bool(3),
                    sampled: c.bool(4),
                    negative: c.bool(5),
                })
            },
        )?;
        out.push(ZoneRound { round_id: round, people });
    }
    Ok(out)
}

const PROPOSAL_COLS: &str =
    "id, case_id, case_unit, area_code, level, reason, proposed_at, status, decided_at, decided_by, zone_id";

fn proposal(c: &Cells) -> Result<ZoneProposal> {
    Ok(ZoneProposal {
        id: c.int(0, "id")?,
        proposed: ProposedZone {
            case_id: c.int(1, "case_id")?,
            case_unit: c.area(2, "case_unit")?,
            area: c.area(3, "area_code")?,
            level: c.parse(4, "level", level)?,
            reason: c.text(5, "reason")?,
            proposed_at: c.ts(6, "proposed_at")?,
        },
        status: c.parse(7, "status", ProposalStatus::parse)?,
        decided_at: c.opt_ts(8, "decided_at")?,
        decided_by: c.opt_text(9).map(str::to_string),
        zone_id: c.opt_int(10),
    })
}

fn proposals(c: &Connection, q: &ProposalQuery) -> Result<Vec<ZoneProposal>> {
    let mut f = Filter::default();
    let mut tail = " ORDER BY id".to_string();
    match q {
        ProposalQuery::Ids(ids) => f.is_in("id", ints(ids)),
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
    let sql = format!("SELECT {PROPOSAL_COLS} FROM zone_proposals WHERE {}{tail}", f.sql());
    let mut out = query_dyn(c, &sql, &f.params, 11, "zone proposal", proposal)?;
    out.sort_by_key(|p| p.id);
    Ok(out)
}

const EVENT_COLS: &str =
    "id, kind, area_code, zone_id, new_zone_id, from_level, to_level, proposal_id, day, at, by_user, note";

fn zone_event(c: &Cells) -> Result<ZoneEvent> {
    Ok(ZoneEvent {
        id: c.int(0, "id")?,
        kind: c.parse(1, "kind", ZoneEventKind::parse)?,
        area: c.area(2, "area_code")?,
        zone_id: c.opt_int(3),
        new_zone_id: c.opt_int(4),
        from_level: c.opt_parse(5, "from_level", level)?,
        to_level: c.opt_parse(6, "to_level", level)?,
        proposal_id: c.opt_int(7),
        day: c.opt_date(8, "day")?,
        at: c.ts(9, "at")?,
        by: c.text(10, "by_user")?,
        note: c.text(11, "note")?,
    })
}

const RUN_DAY_COLS: &str = "day, at, applied_at, by_user, steps, held, profile";

fn zone_run(c: &Cells) -> Result<ZoneRunRecord> {
    Ok(ZoneRunRecord {
        date: c.date(0, "day")?,
        at: c.ts(1, "at")?,
        applied_at: c.ts(2, "applied_at")?,
        by: c.text(3, "by_user")?,
        steps: c.u32(4, "steps")?,
        held: c.u32(5, "held")?,
        profile: c.text(6, "profile")?,
    })
}

// ---- all of it -------------------------------------------------------------------------------

/// Everything `k` asks for. (`lock` and `exclusive` need nothing on SQLite: a write runs
/// alone on the single writer.)
pub(crate) fn fetch(c: &Connection, k: &Keys) -> Result<Facts> {
    let mut facts = Facts::default();
    if let Some(q) = &k.runs {
        facts.runs = runs(c, q)?;
    }
    let mut by_id: BTreeMap<i64, Order> = BTreeMap::new();
    let mut queries = k.orders.clone();
    if k.orders_of_runs && !facts.runs.is_empty() {
        queries.push(OrderQuery { run_ids: Some(facts.runs.iter().map(|r| r.id).collect()), ..OrderQuery::default() });
    }
    for q in &queries {
        for o in orders(c, q)? {
            by_id.insert(o.id, o);
        }
    }
    for (id, o) in &mut by_id {
        let tests = tests_of(c, *id)?;
        o.schedule.tests = tests
            .iter()
            .map(|t| TestDay { day: t.day, phase_day: t.phase_day, phase: t.phase, date: t.date })
            .collect();
        facts.tests.extend(tests);
        if let Some(since) = k.checks_since {
            let sql = format!("SELECT {CHECK_COLS} FROM health_checks WHERE order_id = ? AND at >= ? ORDER BY id");
            facts.checks.extend(query(
                c,
                &sql,
                &[Value::Integer(*id), Value::Text(ts(since))],
                9,
                "health check",
                check,
            )?);
        }
    }
    facts.checks.sort_by_key(|x| x.id);
    facts.orders = by_id.into_values().collect();
    if let Some(q) = &k.sites {
        facts.sites = site_slots(c, q)?;
    }
    if let Some(q) = &k.queue {
        let mut found = queue(c, q)?;
        found.sort_by_key(|e| e.candidate.contact_id);
        facts.queue = found;
    }
    for id in &k.residents {
        if let Some(r) = crate::registry::resident(c, *id)? {
            facts.residents.push(r);
        }
    }
    facts.residents.sort_by_key(|r| r.id);
    facts.residents.dedup_by_key(|r| r.id);
    if let Some(key) = &k.device_op {
        facts.device_op = device_op(c, key)?;
    }
    if let Some(q) = &k.zones {
        facts.zones = zones(c, q, k.zone_clock.as_ref())?;
    }
    if let Some(q) = &k.proposals {
        facts.proposals = proposals(c, q)?;
    }
    for a in &k.areas {
        let found: Option<i64> = c
            .prepare_cached("SELECT 1 FROM areas WHERE code = ?1")
            .db()?
            .query_row([a.as_str()], |r| r.get(0))
            .optional()
            .db()?;
        if found.is_some() {
            facts.areas.push(a.clone());
        }
    }
    if let Some(limit) = k.new_cases {
        facts.cases = query(
            c,
            "SELECT c.id, c.resident_id, r.unit_code, c.at FROM cases c JOIN residents r ON r.id = c.resident_id \
             WHERE NOT EXISTS (SELECT 1 FROM zone_cases_seen s WHERE s.case_id = c.id) ORDER BY c.id LIMIT ?",
            &[Value::Integer(i64::from(limit))],
            4,
            "case",
            |c| {
                Ok(CaseHome {
                    case_id: c.int(0, "id")?,
                    resident_id: c.int(1, "resident_id")?,
                    unit: c.area(2, "unit_code")?,
                    at: c.ts(3, "at")?,
                })
            },
        )?;
    }
    let run_day = |sql: &str, p: &[Value]| query(c, sql, p, 7, "zone run", zone_run);
    if let Some(d) = k.zone_run {
        facts.zone_run =
            run_day(&format!("SELECT {RUN_DAY_COLS} FROM zone_runs WHERE day = ?"), &[Value::Text(date(d))])?.pop();
    }
    if k.last_zone_run {
        facts.last_zone_run =
            run_day(&format!("SELECT {RUN_DAY_COLS} FROM zone_runs ORDER BY day DESC LIMIT 1"), &[])?.pop();
    }
    if let Some(limit) = k.zone_runs {
        facts.zone_runs = run_day(
            &format!("SELECT {RUN_DAY_COLS} FROM zone_runs ORDER BY day DESC LIMIT ?"),
            &[Value::Integer(i64::from(limit))],
        )?;
    }
    for tube in &k.tube_members {
        facts.tube_members.extend(query(
            c,
            "SELECT tube_id, resident_id, at FROM samples WHERE tube_id = ? ORDER BY resident_id",
            &[Value::Integer(*tube)],
            3,
            "sample",
            |c| Ok((c.int(0, "tube_id")?, c.int(1, "resident_id")?, c.ts(2, "at")?)),
        )?);
    }
    if let Some((roots, limit)) = &k.zone_events {
        let mut f = Filter::default();
        if !roots.is_empty() {
            f.under("area_code", roots);
        }
        if !f.empty {
            let sql = format!("SELECT {EVENT_COLS} FROM zone_events WHERE {} ORDER BY id DESC LIMIT {limit}", f.sql());
            facts.zone_events = query_dyn(c, &sql, &f.params, 12, "zone event", zone_event)?;
        }
    }
    Ok(facts)
}

/// The resident's open order as (state, centralised), if any.
pub(crate) fn open_order_of(c: &Connection, resident_id: i64) -> Result<Option<(OrderState, bool)>> {
    let found = query(
        c,
        &format!(
            "SELECT id, state, kind FROM quarantine_orders WHERE resident_id = ? AND state IN {OPEN_STATES} LIMIT 1"
        ),
        &[Value::Integer(resident_id)],
        3,
        "quarantine order",
        |c| Ok((c.parse(1, "state", OrderState::parse)?, c.text(2, "kind")? == "centralised")),
    )?;
    Ok(found.into_iter().next())
}
