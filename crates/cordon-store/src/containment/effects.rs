//! What a containment plan writes. Backends write these in the order of the fields
//! (what is referred to before what refers to it) and report the ids they gave
//! ([`Written`]).
//!
//! **New ids.** A record the plan creates has a placeholder id, `-1 - i` for the `i`-th
//! new record of its kind ([`new_id`]); anything referring to it carries the placeholder,
//! and the backend swaps in the real id with [`Written`]'s resolvers as it writes.

use super::{DeviceOp, QueueEntry, QueueStatus, RoomStay, ZoneEvent, ZoneRunRecord};
use chrono::{DateTime, Utc};
use cordon_domain::audit::AuditEntry;
use cordon_domain::containment::quarantine::{NewHealthCheck, NewSite, Order, OrderTest, Room};
use cordon_domain::containment::transfer::TransferRun;
use cordon_domain::containment::zoneclock::{ProposedZone, ZoneProposal};
use cordon_domain::zone::NewZone;

/// The placeholder id of the `i`-th new record of a kind.
pub fn new_id(i: usize) -> i64 {
    -1 - i64::try_from(i).unwrap_or(i64::MAX - 1)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Designations ended at the instant.
    pub zones_end: Vec<(i64, DateTime<Utc>)>,
    /// New designations (the open one of the same area is in `zones_end`).
    pub zones_new: Vec<NewZone>,
    /// `zone_id`/`new_zone_id` may be placeholders of `zones_new`; `proposal_id` is stored.
    pub zone_events: Vec<ZoneEvent>,
    pub proposals_new: Vec<ProposedZone>,
    /// Decided proposals; `zone_id` may be a placeholder of `zones_new`.
    pub proposals_save: Vec<ZoneProposal>,
    /// Cases taken by the sweep, with when.
    pub cases_seen: Vec<(i64, DateTime<Utc>)>,
    pub zone_run: Option<ZoneRunRecord>,

    pub sites_new: Vec<NewSite>,
    /// New rooms; `id` a placeholder, `site_id` maybe a placeholder of `sites_new`.
    pub rooms_new: Vec<Room>,
    /// Rooms whose state changed.
    pub rooms_save: Vec<Room>,

    /// Queue entries inserted or replaced whole.
    pub queue_upsert: Vec<QueueEntry>,
    /// (contact, status, order — maybe a placeholder of `orders_new`, at).
    pub queue_status: Vec<(i64, QueueStatus, Option<i64>, DateTime<Utc>)>,

    pub runs_new: Vec<TransferRun>,
    pub runs_save: Vec<TransferRun>,
    /// New orders (`id` placeholders); `run_id` may be a placeholder of `runs_new`.
    pub orders_new: Vec<Order>,
    /// Their tests (`order_id` placeholders of `orders_new`).
    pub tests_new: Vec<OrderTest>,
    /// Orders changed, written whole; `run_id` may be a placeholder.
    pub orders_save: Vec<Order>,
    pub tests_save: Vec<OrderTest>,
    /// Room stays begun (`order_id` may be a placeholder).
    pub stays_open: Vec<RoomStay>,
    /// (order, room, left at): the stay of the order in the room ends.
    pub stays_close: Vec<(i64, i64, DateTime<Utc>)>,
    pub checks_new: Vec<NewHealthCheck>,
    pub device_ops: Vec<DeviceOp>,
    pub audit: Vec<AuditEntry>,
}

impl Effects {
    /// Saves an order and the status of its queue entry (the contact status follows).
    pub fn save_order(&mut self, o: Order, at: DateTime<Utc>) {
        if let Some(c) = o.contact_id {
            self.queue_status.push((c, super::QueueStatus::of(o.state), Some(o.id), at));
        }
        match self.orders_save.iter_mut().find(|x| x.id == o.id) {
            Some(slot) => *slot = o,
            None => self.orders_save.push(o),
        }
    }

    pub fn save_room(&mut self, r: Room) {
        match self.rooms_save.iter_mut().find(|x| x.id == r.id) {
            Some(slot) => *slot = r,
            None => self.rooms_save.push(r),
        }
    }

    pub fn save_test(&mut self, t: OrderTest) {
        match self.tests_save.iter_mut().find(|x| x.order_id == t.order_id && x.day == t.day) {
            Some(slot) => *slot = t,
            None => self.tests_save.push(t),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Effects::default()
    }
}

/// The ids the backend gave the new records, in the order of the effects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub zones: Vec<i64>,
    pub sites: Vec<i64>,
    pub rooms: Vec<i64>,
    pub runs: Vec<i64>,
    pub orders: Vec<i64>,
    pub checks: Vec<i64>,
}

fn resolve(ids: &[i64], id: i64) -> i64 {
    if id >= 0 {
        return id;
    }
    usize::try_from(-1 - id).ok().and_then(|i| ids.get(i).copied()).unwrap_or(id)
}

impl Written {
    pub fn zone(&self, id: i64) -> i64 {
        resolve(&self.zones, id)
    }
    pub fn site(&self, id: i64) -> i64 {
        resolve(&self.sites, id)
    }
    pub fn room(&self, id: i64) -> i64 {
        resolve(&self.rooms, id)
    }
    pub fn run(&self, id: i64) -> i64 {
        resolve(&self.runs, id)
    }
    pub fn order(&self, id: i64) -> i64 {
        resolve(&self.orders, id)
    }
    pub fn check(&self, id: i64) -> i64 {
        resolve(&self.checks, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_resolve_to_written_ids() {
        let w = Written { orders: vec![40, 41], ..Written::default() };
        assert_eq!((new_id(0), new_id(1)), (-1, -2));
        assert_eq!((w.order(-1), w.order(-2), w.order(7)), (40, 41, 7));
        assert_eq!(w.order(-3), -3);
        assert_eq!(w.zone(-1), -1);
    }
}
