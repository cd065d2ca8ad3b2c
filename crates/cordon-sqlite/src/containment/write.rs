//! Writing a containment plan's [`Effects`] on SQLite, in the order of its fields, with
//! the new ids swapped in for their placeholders. SQL only: what to write was decided by
//! the plan.

use super::facts::{ORDER_COLS, date};
use crate::audit;
use crate::rows::{OrBackend, ts};
use cordon_domain::colour::{ContactClass, QuarantineKind};
use cordon_domain::containment::quarantine::Order;
use cordon_store::Result;
use cordon_store::containment::{Effects, Written};
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

fn opt_ts(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::Text(ts(t)))
}
fn opt_int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Integer)
}
fn opt_text(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::Text(s.to_string()))
}
fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// The values of [`ORDER_COLS`] after `id`, in order.
fn order_values(o: &Order, w: &Written) -> Vec<Value> {
    let p = &o.person;
    let s = &o.schedule;
    vec![
        opt_int(p.resident_id),
        text(p.name.as_str()),
        opt_text(p.id_number.as_ref().map(|n| n.as_str())),
        opt_text(p.phone.as_ref().map(|n| n.as_str())),
        opt_text(p.unit.as_ref().map(|u| u.as_str())),
        text(&p.address),
        opt_int(p.household_id),
        text(o.category.as_str()),
        opt_int(o.contact_id),
        text(&o.reason),
        text(if s.kind == QuarantineKind::Centralised { "centralised" } else { "home" }),
        Value::Text(date(s.last_exposure)),
        Value::Text(date(s.start)),
        s.centralised_until.map_or(Value::Null, |d| Value::Text(date(d))),
        Value::Text(date(s.end)),
        Value::Integer(i64::from(s.centralised_days)),
        Value::Integer(i64::from(s.home_days)),
        text(o.state.as_str()),
        opt_text(o.transfer.map(|t| t.as_str())),
        opt_int(o.run_id.map(|r| w.run(r))),
        opt_int(o.site_id.map(|s| w.site(s))),
        opt_int(o.room_id.map(|r| w.room(r))),
        Value::Text(ts(o.identified_at)),
        Value::Text(ts(o.ordered_at)),
        text(&o.ordered_by),
        opt_ts(o.picked_up_at),
        opt_text(o.picked_up_by.as_deref()),
        opt_ts(o.arrived_at),
        opt_text(o.arrived_by.as_deref()),
        opt_ts(o.in_quarantine_at),
        opt_ts(o.released_at),
        opt_text(o.released_by.as_deref()),
        opt_ts(o.closed_at),
        opt_text(o.closed_by.as_deref()),
        opt_ts(o.case_at),
    ]
}

fn order_columns() -> Vec<&'static str> {
    ORDER_COLS.split(',').map(str::trim).skip(1).collect()
}

pub(crate) fn write(c: &Connection, e: &Effects) -> Result<Written> {
    let mut w = Written::default();
    for (id, at) in &e.zones_end {
        c.prepare_cached("UPDATE risk_zones SET ends_at = ?2 WHERE id = ?1")
            .db()?
            .execute(params![id, ts(*at)])
            .db()?;
    }
    for z in &e.zones_new {
        c.prepare_cached(
            "INSERT INTO risk_zones (area_code, level, reason, starts_at, designated_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .db()?
        .execute(params![
            z.area.as_str(),
            z.level.as_str(),
            z.reason,
            ts(z.starts_at),
            z.designated_by,
            ts(z.created_at)
        ])
        .db()?;
        w.zones.push(c.last_insert_rowid());
    }
    for ev in &e.zone_events {
        c.prepare_cached(
            "INSERT INTO zone_events (kind, area_code, zone_id, new_zone_id, from_level, to_level, proposal_id, day, \
             at, by_user, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .db()?
        .execute(params![
            ev.kind.as_str(),
            ev.area.as_str(),
            ev.zone_id.map(|z| w.zone(z)),
            ev.new_zone_id.map(|z| w.zone(z)),
            ev.from_level.map(|l| l.as_str()),
            ev.to_level.map(|l| l.as_str()),
            ev.proposal_id,
            ev.day.map(date),
            ts(ev.at),
            ev.by,
            ev.note,
        ])
        .db()?;
    }
    for p in &e.proposals_new {
        c.prepare_cached(
            "INSERT INTO zone_proposals (case_id, case_unit, area_code, level, reason, proposed_at, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'proposed')",
        )
        .db()?
        .execute(params![
            p.case_id,
            p.case_unit.as_str(),
            p.area.as_str(),
            p.level.as_str(),
            p.reason,
            ts(p.proposed_at)
        ])
        .db()?;
    }
    for p in &e.proposals_save {
        c.prepare_cached(
            "UPDATE zone_proposals SET status = ?2, decided_at = ?3, decided_by = ?4, zone_id = ?5 WHERE id = ?1",
        )
        .db()?
        .execute(params![p.id, p.status.as_str(), p.decided_at.map(ts), p.decided_by, p.zone_id.map(|z| w.zone(z))])
        .db()?;
    }
    for (case, at) in &e.cases_seen {
        c.prepare_cached("INSERT INTO zone_cases_seen (case_id, at) VALUES (?1, ?2)")
            .db()?
            .execute(params![case, ts(*at)])
            .db()?;
    }
    if let Some(r) = &e.zone_run {
        c.prepare_cached(
            "INSERT INTO zone_runs (day, at, applied_at, by_user, steps, held, profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .db()?
        .execute(params![date(r.date), ts(r.at), ts(r.applied_at), r.by, r.steps, r.held, r.profile])
        .db()?;
    }
    for s in &e.sites_new {
        let cats: Vec<&str> = s.categories.iter().map(|c| c.as_str()).collect();
        c.prepare_cached(
            "INSERT INTO quarantine_sites (name, kind, address, area_code, manager, manager_user_id, manager_phone, \
             categories, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .db()?
        .execute(params![
            s.name,
            s.kind.as_str(),
            s.address,
            s.area.as_str(),
            s.manager,
            s.manager_user_id,
            s.manager_phone.as_ref().map(|p| p.as_str()),
            cats.join(" "),
            ts(s.created_at),
        ])
        .db()?;
        w.sites.push(c.last_insert_rowid());
    }
    for r in &e.rooms_new {
        c.prepare_cached(
            "INSERT INTO quarantine_rooms (site_id, floor, number, beds, state, state_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .db()?
        .execute(params![w.site(r.site_id), r.floor, r.number, r.beds, r.state.as_str(), ts(r.state_at)])
        .db()?;
        w.rooms.push(c.last_insert_rowid());
    }
    for r in &e.rooms_save {
        c.prepare_cached("UPDATE quarantine_rooms SET state = ?2, state_at = ?3 WHERE id = ?1")
            .db()?
            .execute(params![r.id, r.state.as_str(), ts(r.state_at)])
            .db()?;
    }
    for q in &e.queue_upsert {
        let p = &q.candidate.person;
        c.prepare_cached(
            "INSERT INTO isolation_queue (contact_id, resident_id, name, id_number, phone, unit_code, address, \
             household_id, class, last_exposure, identified_at, deadline, status, order_id, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
             ON CONFLICT (contact_id) DO UPDATE SET resident_id = excluded.resident_id, name = excluded.name, \
             id_number = excluded.id_number, phone = excluded.phone, unit_code = excluded.unit_code, \
             address = excluded.address, household_id = excluded.household_id, class = excluded.class, \
             last_exposure = excluded.last_exposure, identified_at = excluded.identified_at, \
             deadline = excluded.deadline, status = excluded.status, order_id = excluded.order_id, \
             updated_at = excluded.updated_at",
        )
        .db()?
        .execute(params![
            q.candidate.contact_id,
            p.resident_id,
            p.name.as_str(),
            p.id_number.as_ref().map(|n| n.as_str()),
            p.phone.as_ref().map(|n| n.as_str()),
            p.unit.as_ref().map(|u| u.as_str()),
            p.address,
            p.household_id,
            match q.candidate.class {
                ContactClass::Close => "close",
                ContactClass::Secondary => "secondary",
            },
            ts(q.candidate.last_exposure),
            ts(q.candidate.identified_at),
            ts(q.candidate.deadline),
            q.status.as_str(),
            q.order_id,
            ts(q.updated_at),
        ])
        .db()?;
    }
    for r in &e.runs_new {
        let v = &r.vehicle;
        c.prepare_cached(
            "INSERT INTO transfer_runs (plate, driver, driver_user_id, team, seats, site_id, state, dispatched_at, \
             dispatched_by, completed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .db()?
        .execute(params![
            v.plate,
            v.driver,
            v.driver_user_id,
            v.team,
            v.seats,
            w.site(r.site_id),
            r.state.as_str(),
            ts(r.dispatched_at),
            r.dispatched_by,
            r.completed_at.map(ts),
        ])
        .db()?;
        w.runs.push(c.last_insert_rowid());
    }
    for r in &e.runs_save {
        c.prepare_cached("UPDATE transfer_runs SET state = ?2, completed_at = ?3 WHERE id = ?1")
            .db()?
            .execute(params![w.run(r.id), r.state.as_str(), r.completed_at.map(ts)])
            .db()?;
    }
    let cols = order_columns();
    if !e.orders_new.is_empty() {
        let sql = format!(
            "INSERT INTO quarantine_orders ({}) VALUES ({})",
            cols.join(", "),
            vec!["?"; cols.len()].join(", ")
        );
        let mut stmt = c.prepare_cached(&sql).db()?;
        for o in &e.orders_new {
            stmt.execute(params_from_iter(order_values(o, &w))).db()?;
            w.orders.push(c.last_insert_rowid());
        }
    }
    for t in &e.tests_new {
        c.prepare_cached(
            "INSERT INTO order_tests (order_id, day, phase_day, phase, date, place, status, sampled_at, result_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .db()?
        .execute(params![
            w.order(t.order_id),
            t.day,
            t.phase_day,
            t.phase.as_str(),
            date(t.date),
            t.place.as_str(),
            t.status.as_str(),
            t.sampled_at.map(ts),
            t.result_at.map(ts),
        ])
        .db()?;
    }
    if !e.orders_save.is_empty() {
        let set: Vec<String> = cols.iter().map(|c| format!("{c} = ?")).collect();
        let sql = format!("UPDATE quarantine_orders SET {} WHERE id = ?", set.join(", "));
        let mut stmt = c.prepare_cached(&sql).db()?;
        for o in &e.orders_save {
            let mut values = order_values(o, &w);
            values.push(Value::Integer(w.order(o.id)));
            stmt.execute(params_from_iter(values)).db()?;
        }
    }
    for (contact, status, order, at) in &e.queue_status {
        c.prepare_cached(
            "UPDATE isolation_queue SET status = ?2, order_id = ?3, updated_at = ?4 WHERE contact_id = ?1",
        )
        .db()?
        .execute(params![contact, status.as_str(), order.map(|o| w.order(o)), ts(*at)])
        .db()?;
    }
    for t in &e.tests_save {
        c.prepare_cached(
            "UPDATE order_tests SET status = ?3, sampled_at = ?4, result_at = ?5 WHERE order_id = ?1 AND day = ?2",
        )
        .db()?
        .execute(params![t.order_id, t.day, t.status.as_str(), t.sampled_at.map(ts), t.result_at.map(ts)])
        .db()?;
    }
    for (order, room, at) in &e.stays_close {
        c.prepare_cached("UPDATE room_stays SET left_at = ?3 WHERE order_id = ?1 AND room_id = ?2 AND left_at IS NULL")
            .db()?
            .execute(params![w.order(*order), w.room(*room), ts(*at)])
            .db()?;
    }
    for s in &e.stays_open {
        c.prepare_cached("INSERT INTO room_stays (order_id, room_id, from_at, by_user) VALUES (?1, ?2, ?3, ?4)")
            .db()?
            .execute(params![w.order(s.order_id), w.room(s.room_id), ts(s.from), s.by])
            .db()?;
    }
    for h in &e.checks_new {
        let symptoms: Vec<&str> = h.symptoms.iter().map(|s| s.as_str()).collect();
        c.prepare_cached(
            "INSERT INTO health_checks (order_id, at, temperature_tenths, symptoms, note, alarm, by_user_id, by_user) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .db()?
        .execute(params![
            w.order(h.order_id),
            ts(h.at),
            h.temperature.tenths(),
            symptoms.join(" "),
            h.note,
            h.alarm,
            h.by_id,
            h.by,
        ])
        .db()?;
        w.checks.push(c.last_insert_rowid());
    }
    for d in &e.device_ops {
        c.prepare_cached("INSERT INTO device_ops (key, kind, run_id, order_id, at) VALUES (?1, ?2, ?3, ?4, ?5)")
            .db()?
            .execute(params![d.key, d.kind, w.run(d.run_id), d.order_id.map(|o| w.order(o)), ts(d.at)])
            .db()?;
    }
    for a in &e.audit {
        audit::insert(c, a)?;
    }
    Ok(w)
}
