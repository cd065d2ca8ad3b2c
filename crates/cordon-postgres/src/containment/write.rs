//! Writing a containment plan's [`Effects`] on PostgreSQL, in the order of its fields,
//! with the new ids swapped in for their placeholders. Orders and their tests go in one
//! statement each (`unnest` of column arrays, ids drawn from the sequence first so that
//! placeholders map to ids in order). SQL only.

use super::facts::i32_of;
use crate::error::Db;
use crate::rows::get;
use crate::store::insert_audit;
use chrono::{DateTime, NaiveDate, Utc};
use cordon_domain::colour::{ContactClass, QuarantineKind};
use cordon_domain::containment::quarantine::Order;
use cordon_store::StoreError;
use cordon_store::containment::{Effects, Written};
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

type Result<T> = std::result::Result<T, StoreError>;

/// `n` new ids of `table`'s identity column, in order.
async fn ids<C: GenericClient + Sync>(c: &C, table: &str, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let rows = c
        .query(
            &format!(
                "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1::bigint) ORDER BY 1"
            ),
            &[&n],
        )
        .await
        .db()?;
    rows.iter().map(|r| get(r, 0)).collect()
}

/// Orders as column arrays, in the order of [`super::facts::ORDER_COLS`].
#[derive(Default)]
struct OrderArrays {
    id: Vec<i64>,
    resident_id: Vec<Option<i64>>,
    name: Vec<String>,
    id_number: Vec<Option<String>>,
    phone: Vec<Option<String>>,
    unit_code: Vec<Option<String>>,
    address: Vec<String>,
    household_id: Vec<Option<i64>>,
    category: Vec<String>,
    contact_id: Vec<Option<i64>>,
    reason: Vec<String>,
    kind: Vec<String>,
    last_exposure: Vec<NaiveDate>,
    start_date: Vec<NaiveDate>,
    centralised_until: Vec<Option<NaiveDate>>,
    end_date: Vec<NaiveDate>,
    centralised_days: Vec<i32>,
    home_days: Vec<i32>,
    state: Vec<String>,
    transfer_state: Vec<Option<String>>,
    run_id: Vec<Option<i64>>,
    site_id: Vec<Option<i64>>,
    room_id: Vec<Option<i64>>,
    identified_at: Vec<DateTime<Utc>>,
    ordered_at: Vec<DateTime<Utc>>,
    ordered_by: Vec<String>,
    picked_up_at: Vec<Option<DateTime<Utc>>>,
    picked_up_by: Vec<Option<String>>,
    arrived_at: Vec<Option<DateTime<Utc>>>,
    arrived_by: Vec<Option<String>>,
    in_quarantine_at: Vec<Option<DateTime<Utc>>>,
    released_at: Vec<Option<DateTime<Utc>>>,
    released_by: Vec<Option<String>>,
    closed_at: Vec<Option<DateTime<Utc>>>,
    closed_by: Vec<Option<String>>,
    case_at: Vec<Option<DateTime<Utc>>>,
}

/// The array types of [`OrderArrays`], for `unnest`.
const ORDER_TYPES: &[&str] = &[
    "bigint",
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "text",
    "bigint",
    "text",
    "bigint",
    "text",
    "text",
    "date",
    "date",
    "date",
    "date",
    "integer",
    "integer",
    "text",
    "text",
    "bigint",
    "bigint",
    "bigint",
    "timestamptz",
    "timestamptz",
    "text",
    "timestamptz",
    "text",
    "timestamptz",
    "text",
    "timestamptz",
    "timestamptz",
    "text",
    "timestamptz",
    "text",
    "timestamptz",
];

impl OrderArrays {
    fn push(&mut self, id: i64, o: &Order, w: &Written) {
        let p = &o.person;
        let s = &o.schedule;
        self.id.push(id);
        self.resident_id.push(p.resident_id);
        self.name.push(p.name.as_str().to_string());
        self.id_number.push(p.id_number.as_ref().map(|n| n.as_str().to_string()));
        self.phone.push(p.phone.as_ref().map(|n| n.as_str().to_string()));
        self.unit_code.push(p.unit.as_ref().map(|u| u.as_str().to_string()));
        self.address.push(p.address.clone());
        self.household_id.push(p.household_id);
        self.category.push(o.category.as_str().to_string());
        self.contact_id.push(o.contact_id);
        self.reason.push(o.reason.clone());
        self.kind.push(if s.kind == QuarantineKind::Centralised { "centralised" } else { "home" }.to_string());
        self.last_exposure.push(s.last_exposure);
        self.start_date.push(s.start);
        self.centralised_until.push(s.centralised_until);
        self.end_date.push(s.end);
        self.centralised_days.push(i32_of(s.centralised_days));
        self.home_days.push(i32_of(s.home_days));
        self.state.push(o.state.as_str().to_string());
        self.transfer_state.push(o.transfer.map(|t| t.as_str().to_string()));
        self.run_id.push(o.run_id.map(|r| w.run(r)));
        self.site_id.push(o.site_id.map(|s| w.site(s)));
        self.room_id.push(o.room_id.map(|r| w.room(r)));
        self.identified_at.push(o.identified_at);
        self.ordered_at.push(o.ordered_at);
        self.ordered_by.push(o.ordered_by.clone());
        self.picked_up_at.push(o.picked_up_at);
        self.picked_up_by.push(o.picked_up_by.clone());
        self.arrived_at.push(o.arrived_at);
        self.arrived_by.push(o.arrived_by.clone());
        self.in_quarantine_at.push(o.in_quarantine_at);
        self.released_at.push(o.released_at);
        self.released_by.push(o.released_by.clone());
        self.closed_at.push(o.closed_at);
        self.closed_by.push(o.closed_by.clone());
        self.case_at.push(o.case_at);
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.resident_id,
            &self.name,
            &self.id_number,
            &self.phone,
            &self.unit_code,
            &self.address,
            &self.household_id,
            &self.category,
            &self.contact_id,
            &self.reason,
            &self.kind,
            &self.last_exposure,
            &self.start_date,
            &self.centralised_until,
            &self.end_date,
            &self.centralised_days,
            &self.home_days,
            &self.state,
            &self.transfer_state,
            &self.run_id,
            &self.site_id,
            &self.room_id,
            &self.identified_at,
            &self.ordered_at,
            &self.ordered_by,
            &self.picked_up_at,
            &self.picked_up_by,
            &self.arrived_at,
            &self.arrived_by,
            &self.in_quarantine_at,
            &self.released_at,
            &self.released_by,
            &self.closed_at,
            &self.closed_by,
            &self.case_at,
        ]
    }
}

fn columns() -> Vec<&'static str> {
    super::facts::ORDER_COLS.split(',').map(str::trim).collect()
}

fn unnest(types: &[&str]) -> String {
    let args: Vec<String> = types.iter().enumerate().map(|(i, t)| format!("${}::{t}[]", i + 1)).collect();
    format!("unnest({})", args.join(", "))
}

pub(crate) async fn write<C: GenericClient + Sync>(c: &C, e: &Effects) -> Result<Written> {
    let mut w = Written::default();
    for (id, at) in &e.zones_end {
        c.execute("UPDATE risk_zones SET ends_at = $2 WHERE id = $1", &[id, at]).await.db()?;
    }
    for z in &e.zones_new {
        let row = c
            .query_one(
                "INSERT INTO risk_zones (area_code, level, reason, starts_at, designated_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[&z.area.as_str(), &z.level.as_str(), &z.reason, &z.starts_at, &z.designated_by, &z.created_at],
            )
            .await
            .db()?;
        w.zones.push(get(&row, 0)?);
    }
    for ev in &e.zone_events {
        c.execute(
            "INSERT INTO zone_events (kind, area_code, zone_id, new_zone_id, from_level, to_level, proposal_id, day, \
             at, by_user, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &ev.kind.as_str(),
                &ev.area.as_str(),
                &ev.zone_id.map(|z| w.zone(z)),
                &ev.new_zone_id.map(|z| w.zone(z)),
                &ev.from_level.map(|l| l.as_str()),
                &ev.to_level.map(|l| l.as_str()),
                &ev.proposal_id,
                &ev.day,
                &ev.at,
                &ev.by,
                &ev.note,
            ],
        )
        .await
        .db()?;
    }
    for p in &e.proposals_new {
        c.execute(
            "INSERT INTO zone_proposals (case_id, case_unit, area_code, level, reason, proposed_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, 'proposed')",
            &[&p.case_id, &p.case_unit.as_str(), &p.area.as_str(), &p.level.as_str(), &p.reason, &p.proposed_at],
        )
        .await
        .db()?;
    }
    for p in &e.proposals_save {
        c.execute(
            "UPDATE zone_proposals SET status = $2, decided_at = $3, decided_by = $4, zone_id = $5 WHERE id = $1",
            &[&p.id, &p.status.as_str(), &p.decided_at, &p.decided_by, &p.zone_id.map(|z| w.zone(z))],
        )
        .await
        .db()?;
    }
    if !e.cases_seen.is_empty() {
        let (cases, at): (Vec<i64>, Vec<DateTime<Utc>>) = e.cases_seen.iter().copied().unzip();
        c.execute(
            "INSERT INTO zone_cases_seen (case_id, at) SELECT * FROM unnest($1::bigint[], $2::timestamptz[])",
            &[&cases, &at],
        )
        .await
        .db()?;
    }
    if let Some(r) = &e.zone_run {
        c.execute(
            "INSERT INTO zone_runs (day, at, applied_at, by_user, steps, held, profile) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&r.date, &r.at, &r.applied_at, &r.by, &i32_of(r.steps), &i32_of(r.held), &r.profile],
        )
        .await
        .db()?;
    }
    for s in &e.sites_new {
        let cats: Vec<&str> = s.categories.iter().map(|c| c.as_str()).collect();
        let row = c
            .query_one(
                "INSERT INTO quarantine_sites (name, kind, address, area_code, manager, manager_user_id, manager_phone, \
                 categories, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &s.name,
                    &s.kind.as_str(),
                    &s.address,
                    &s.area.as_str(),
                    &s.manager,
                    &s.manager_user_id,
                    &s.manager_phone.as_ref().map(|p| p.as_str()),
                    &cats,
                    &s.created_at,
                ],
            )
            .await
            .db()?;
        w.sites.push(get(&row, 0)?);
    }
    if !e.rooms_new.is_empty() {
        w.rooms = ids(c, "quarantine_rooms", e.rooms_new.len()).await?;
        let r = &e.rooms_new;
        let site: Vec<i64> = r.iter().map(|r| w.site(r.site_id)).collect();
        let floor: Vec<i32> = r.iter().map(|r| r.floor).collect();
        let number: Vec<&str> = r.iter().map(|r| r.number.as_str()).collect();
        let beds: Vec<i32> = r.iter().map(|r| i32_of(r.beds)).collect();
        let state: Vec<&str> = r.iter().map(|r| r.state.as_str()).collect();
        let state_at: Vec<DateTime<Utc>> = r.iter().map(|r| r.state_at).collect();
        c.execute(
            "INSERT INTO quarantine_rooms (id, site_id, floor, number, beds, state, state_at) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::text[], $5::integer[], $6::text[], \
                                  $7::timestamptz[])",
            &[&w.rooms, &site, &floor, &number, &beds, &state, &state_at],
        )
        .await
        .db()?;
    }
    if !e.rooms_save.is_empty() {
        let id: Vec<i64> = e.rooms_save.iter().map(|r| r.id).collect();
        let state: Vec<&str> = e.rooms_save.iter().map(|r| r.state.as_str()).collect();
        let at: Vec<DateTime<Utc>> = e.rooms_save.iter().map(|r| r.state_at).collect();
        c.execute(
            "UPDATE quarantine_rooms r SET state = u.state, state_at = u.at \
             FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS u (id, state, at) WHERE r.id = u.id",
            &[&id, &state, &at],
        )
        .await
        .db()?;
    }
    for q in &e.queue_upsert {
        let p = &q.candidate.person;
        let class = match q.candidate.class {
            ContactClass::Close => "close",
            ContactClass::Secondary => "secondary",
        };
        c.execute(
            "INSERT INTO isolation_queue (contact_id, resident_id, name, id_number, phone, unit_code, address, \
             household_id, class, last_exposure, identified_at, deadline, status, order_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (contact_id) DO UPDATE SET resident_id = excluded.resident_id, name = excluded.name, \
             id_number = excluded.id_number, phone = excluded.phone, unit_code = excluded.unit_code, \
             address = excluded.address, household_id = excluded.household_id, class = excluded.class, \
             last_exposure = excluded.last_exposure, identified_at = excluded.identified_at, \
             deadline = excluded.deadline, status = excluded.status, order_id = excluded.order_id, \
             updated_at = excluded.updated_at",
            &[
                &q.candidate.contact_id,
                &p.resident_id,
                &p.name.as_str(),
                &p.id_number.as_ref().map(|n| n.as_str()),
                &p.phone.as_ref().map(|n| n.as_str()),
                &p.unit.as_ref().map(|u| u.as_str()),
                &p.address,
                &p.household_id,
                &class,
                &q.candidate.last_exposure,
                &q.candidate.identified_at,
                &q.candidate.deadline,
                &q.status.as_str(),
                &q.order_id,
                &q.updated_at,
            ],
        )
        .await
        .db()?;
    }
    for r in &e.runs_new {
        let v = &r.vehicle;
        let row = c
            .query_one(
                "INSERT INTO transfer_runs (plate, driver, driver_user_id, team, seats, site_id, state, dispatched_at, \
                 dispatched_by, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    &v.plate,
                    &v.driver,
                    &v.driver_user_id,
                    &v.team,
                    &i32_of(v.seats),
                    &w.site(r.site_id),
                    &r.state.as_str(),
                    &r.dispatched_at,
                    &r.dispatched_by,
                    &r.completed_at,
                ],
            )
            .await
            .db()?;
        w.runs.push(get(&row, 0)?);
    }
    for r in &e.runs_save {
        c.execute(
            "UPDATE transfer_runs SET state = $2, completed_at = $3 WHERE id = $1",
            &[&w.run(r.id), &r.state.as_str(), &r.completed_at],
        )
        .await
        .db()?;
    }
    let cols = columns();
    if !e.orders_new.is_empty() {
        w.orders = ids(c, "quarantine_orders", e.orders_new.len()).await?;
        let mut a = OrderArrays::default();
        for (o, id) in e.orders_new.iter().zip(&w.orders) {
            a.push(*id, o, &w);
        }
        let sql = format!("INSERT INTO quarantine_orders ({}) SELECT * FROM {}", cols.join(", "), unnest(ORDER_TYPES));
        c.execute(&sql, &a.params()).await.db()?;
    }
    if !e.tests_new.is_empty() {
        let t = &e.tests_new;
        let order: Vec<i64> = t.iter().map(|t| w.order(t.order_id)).collect();
        let day: Vec<i32> = t.iter().map(|t| i32_of(t.day)).collect();
        let phase_day: Vec<i32> = t.iter().map(|t| i32_of(t.phase_day)).collect();
        let phase: Vec<&str> = t.iter().map(|t| t.phase.as_str()).collect();
        let date: Vec<NaiveDate> = t.iter().map(|t| t.date).collect();
        let place: Vec<&str> = t.iter().map(|t| t.place.as_str()).collect();
        let status: Vec<&str> = t.iter().map(|t| t.status.as_str()).collect();
        let sampled: Vec<Option<DateTime<Utc>>> = t.iter().map(|t| t.sampled_at).collect();
        let result: Vec<Option<DateTime<Utc>>> = t.iter().map(|t| t.result_at).collect();
        c.execute(
            "INSERT INTO order_tests (order_id, day, phase_day, phase, date, place, status, sampled_at, result_at) \
             SELECT * FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::text[], $5::date[], $6::text[], \
                                  $7::text[], $8::timestamptz[], $9::timestamptz[])",
            &[&order, &day, &phase_day, &phase, &date, &place, &status, &sampled, &result],
        )
        .await
        .db()?;
    }
    if !e.orders_save.is_empty() {
        let mut a = OrderArrays::default();
        for o in &e.orders_save {
            a.push(w.order(o.id), o, &w);
        }
        let set: Vec<String> = cols.iter().skip(1).map(|c| format!("{c} = u.{c}")).collect();
        let sql = format!(
            "UPDATE quarantine_orders o SET {} FROM {} AS u ({}) WHERE o.id = u.id",
            set.join(", "),
            unnest(ORDER_TYPES),
            cols.join(", ")
        );
        c.execute(&sql, &a.params()).await.db()?;
    }
    if !e.queue_status.is_empty() {
        let contact: Vec<i64> = e.queue_status.iter().map(|q| q.0).collect();
        let status: Vec<&str> = e.queue_status.iter().map(|q| q.1.as_str()).collect();
        let order: Vec<Option<i64>> = e.queue_status.iter().map(|q| q.2.map(|o| w.order(o))).collect();
        let at: Vec<DateTime<Utc>> = e.queue_status.iter().map(|q| q.3).collect();
        c.execute(
            "UPDATE isolation_queue q SET status = u.status, order_id = u.order_id, updated_at = u.at \
             FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[]) AS u (contact_id, status, order_id, at) \
             WHERE q.contact_id = u.contact_id",
            &[&contact, &status, &order, &at],
        )
        .await
        .db()?;
    }
    if !e.tests_save.is_empty() {
        let t = &e.tests_save;
        let order: Vec<i64> = t.iter().map(|t| t.order_id).collect();
        let day: Vec<i32> = t.iter().map(|t| i32_of(t.day)).collect();
        let status: Vec<&str> = t.iter().map(|t| t.status.as_str()).collect();
        let sampled: Vec<Option<DateTime<Utc>>> = t.iter().map(|t| t.sampled_at).collect();
        let result: Vec<Option<DateTime<Utc>>> = t.iter().map(|t| t.result_at).collect();
        c.execute(
            "UPDATE order_tests t SET status = u.status, sampled_at = u.sampled_at, result_at = u.result_at \
             FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::timestamptz[], $5::timestamptz[]) \
                  AS u (order_id, day, status, sampled_at, result_at) \
             WHERE t.order_id = u.order_id AND t.day = u.day",
            &[&order, &day, &status, &sampled, &result],
        )
        .await
        .db()?;
    }
    for (order, room, at) in &e.stays_close {
        c.execute(
            "UPDATE room_stays SET left_at = $3 WHERE order_id = $1 AND room_id = $2 AND left_at IS NULL",
            &[&w.order(*order), &w.room(*room), at],
        )
        .await
        .db()?;
    }
    if !e.stays_open.is_empty() {
        let order: Vec<i64> = e.stays_open.iter().map(|s| w.order(s.order_id)).collect();
        let room: Vec<i64> = e.stays_open.iter().map(|s| w.room(s.room_id)).collect();
        let from: Vec<DateTime<Utc>> = e.stays_open.iter().map(|s| s.from).collect();
        let by: Vec<&str> = e.stays_open.iter().map(|s| s.by.as_str()).collect();
        c.execute(
            "INSERT INTO room_stays (order_id, room_id, from_at, by_user) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[])",
            &[&order, &room, &from, &by],
        )
        .await
        .db()?;
    }
    for h in &e.checks_new {
        let symptoms: Vec<&str> = h.symptoms.iter().map(|s| s.as_str()).collect();
        let row = c
            .query_one(
                "INSERT INTO health_checks (order_id, at, temperature_tenths, symptoms, note, alarm, by_user_id, by_user) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &w.order(h.order_id),
                    &h.at,
                    &i32::from(h.temperature.tenths()),
                    &symptoms,
                    &h.note,
                    &h.alarm,
                    &h.by_id,
                    &h.by,
                ],
            )
            .await
            .db()?;
        w.checks.push(get(&row, 0)?);
    }
    for d in &e.device_ops {
        c.execute(
            "INSERT INTO device_ops (key, kind, run_id, order_id, at) VALUES ($1, $2, $3, $4, $5)",
            &[&d.key, &d.kind, &w.run(d.run_id), &d.order_id.map(|o| w.order(o)), &d.at],
        )
        .await
        .db()?;
    }
    insert_audit(c, &e.audit).await?;
    Ok(w)
}
