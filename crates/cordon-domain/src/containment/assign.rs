//! Room assignment that prevents cross-infection (防止交叉感染), and the capacity
//! forecast.
//!
//! The rules, all from the profile's `[quarantine]` table: categories never share a
//! room, nor — with `separate_floors` — a floor; who may share a room is
//! `room_sharing` (one person, one household, or one category); a household is kept in
//! one room, or when it cannot share on one floor of one site, with `household_together`;
//! cases never go to a site that does not take them (only a shelter hospital does, and
//! then only cases); no room holds more people than beds; a room being cleaned or out of
//! service takes nobody.
//!
//! [`suggest`] proposes rooms for a batch of arrivals; [`check_assignment`] checks the
//! manager's choice (or a move) against the same rules, so what one accepts the other
//! would have allowed.

use super::Refusal;
use super::quarantine::{Category, Room, RoomState, Site};
use crate::error::FieldError;
use crate::policy::{QuarantineRules, RoomSharing};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Someone in (or assigned to) a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupant {
    pub order_id: i64,
    pub category: Category,
    pub household_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSlot {
    pub room: Room,
    pub occupants: Vec<Occupant>,
}

impl RoomSlot {
    pub fn free_beds(&self) -> u32 {
        self.room.beds.saturating_sub(self.occupants.len() as u32)
    }
}

/// A site with every room and who is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSlots {
    pub site: Site,
    pub rooms: Vec<RoomSlot>,
}

/// Someone to place.
pub type Arrival = Occupant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    pub order_id: i64,
    pub site_id: i64,
    pub room_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub placements: Vec<Placement>,
    /// Who could not be placed, and why.
    pub unplaced: Vec<(i64, FieldError)>,
}

/// The working state: sites and rooms with their occupants, and how many people of each
/// category are on each floor (an array per floor, looked up by room: this runs for every
/// room and every household of a batch).
struct Board {
    sites: Vec<SiteSlots>,
    /// Floor slot of each room, by site then room.
    room_floor: Vec<Vec<usize>>,
    /// People per category (by `Category as usize`) on each floor slot.
    floor_cats: Vec<[u32; 4]>,
}

impl Board {
    fn new(sites: &[SiteSlots]) -> Board {
        let mut slots: HashMap<(usize, i32), usize> = HashMap::new();
        let mut floor_cats: Vec<[u32; 4]> = Vec::new();
        let mut room_floor = Vec::with_capacity(sites.len());
        for (si, s) in sites.iter().enumerate() {
            let mut rooms = Vec::with_capacity(s.rooms.len());
            for r in &s.rooms {
                let slot = *slots.entry((si, r.room.floor)).or_insert_with(|| {
                    floor_cats.push([0; 4]);
                    floor_cats.len() - 1
                });
                for o in &r.occupants {
                    floor_cats[slot][o.category as usize] += 1;
                }
                rooms.push(slot);
            }
            room_floor.push(rooms);
        }
        Board { sites: sites.to_vec(), room_floor, floor_cats }
    }

    fn floor(&self, si: usize, ri: usize) -> &[u32; 4] {
        &self.floor_cats[self.room_floor[si][ri]]
    }

    fn find(&self, room_id: i64) -> Option<(usize, usize)> {
        self.sites
            .iter()
            .enumerate()
            .find_map(|(si, s)| s.rooms.iter().position(|r| r.room.id == room_id).map(|ri| (si, ri)))
    }

    /// Whether `group` (one category, one household or one person) may all go into room
    /// (`si`, `ri`) now.
    fn fits(&self, si: usize, ri: usize, group: &[&Arrival], rules: &QuarantineRules) -> Result<(), FieldError> {
        let site = &self.sites[si];
        let slot = &site.rooms[ri];
        let Some(first) = group.first() else { return Ok(()) };
        let category = first.category;
        if !site.site.accepts(category) {
            return Err(if category == Category::Case {
                Refusal::CaseNotInQuarantine.error()
            } else {
                Refusal::SiteRefusesCategory.error()
            });
        }
        if !matches!(slot.room.state, RoomState::Free | RoomState::Occupied) {
            return Err(Refusal::RoomNotAvailable.error());
        }
        if slot.free_beds() < group.len() as u32 {
            return Err(Refusal::RoomOverCapacity.error());
        }
        // Everyone who would be in the room: its occupants and the group (no allocation:
        // this runs for every room and every household of a batch).
        let everyone = || slot.occupants.iter().chain(group.iter().copied());
        if everyone().any(|o| o.category != category) {
            return Err(Refusal::RoomCategoryMixed.error());
        }
        let together = slot.occupants.len() + group.len() > 1;
        match rules.room_sharing {
            RoomSharing::Single if together => return Err(Refusal::RoomSingle.error()),
            RoomSharing::Household if together => {
                let h = first.household_id;
                if h.is_none() || everyone().any(|o| o.household_id != h) {
                    return Err(Refusal::RoomHouseholdOnly.error());
                }
            }
            _ => {}
        }
        if rules.separate_floors && self.floor(si, ri).iter().enumerate().any(|(c, n)| *n > 0 && c != category as usize)
        {
            return Err(Refusal::FloorCategoryMixed.error());
        }
        Ok(())
    }

    fn place(&mut self, si: usize, ri: usize, who: &Arrival) -> Placement {
        let slot = &mut self.sites[si].rooms[ri];
        slot.occupants.push(who.clone());
        if slot.room.state == RoomState::Free {
            slot.room.state = RoomState::Occupied;
        }
        let room_id = slot.room.id;
        self.floor_cats[self.room_floor[si][ri]][who.category as usize] += 1;
        Placement { order_id: who.order_id, site_id: self.sites[si].site.id, room_id }
    }

    /// The best room for `group` by `score` (lowest wins, then the first in order).
    fn best<K: Ord>(
        &self,
        group: &[&Arrival],
        rules: &QuarantineRules,
        score: impl Fn(usize, usize, &RoomSlot) -> K,
    ) -> Option<(usize, usize)> {
        let mut best: Option<(K, usize, usize)> = None;
        let need = group.len() as u32;
        for (si, s) in self.sites.iter().enumerate() {
            if group.first().is_some_and(|g| !s.site.accepts(g.category)) {
                continue;
            }
            for (ri, r) in s.rooms.iter().enumerate() {
                if r.free_beds() < need || self.fits(si, ri, group, rules).is_err() {
                    continue;
                }
                let k = score(si, ri, r);
                if best.as_ref().is_none_or(|(b, _, _)| k < *b) {
                    best = Some((k, si, ri));
                }
            }
        }
        best.map(|(_, si, ri)| (si, ri))
    }

    fn floor_has(&self, si: usize, ri: usize, c: Category) -> bool {
        self.floor(si, ri)[c as usize] > 0
    }

    /// Why nobody of `category` can be placed: no site takes them, or every room that
    /// would is taken.
    fn why_not(&self, category: Category) -> FieldError {
        if self.sites.iter().any(|s| s.site.accepts(category)) {
            Refusal::SiteFull.error()
        } else if category == Category::Case {
            Refusal::CaseNotInQuarantine.error()
        } else {
            Refusal::SiteRefusesCategory.error()
        }
    }
}

/// Suggested rooms for a batch of arrivals in `sites` (tried in the order given). A
/// household goes into one room where the rules and the beds allow (the smallest room
/// that holds it, on a floor already holding its category when there is one), else onto
/// one floor of one site as far as it can; people without a household are placed alone.
pub fn suggest(arrivals: &[Arrival], sites: &[SiteSlots], rules: &QuarantineRules) -> Suggestion {
    let mut board = Board::new(sites);
    // Groups: one category and household together, in order of first appearance.
    let mut groups: Vec<Vec<&Arrival>> = Vec::new();
    let mut index: HashMap<(Category, i64), usize> = HashMap::new();
    for a in arrivals {
        match a.household_id.filter(|_| rules.household_together) {
            Some(h) => match index.get(&(a.category, h)) {
                Some(&g) => groups[g].push(a),
                None => {
                    index.insert((a.category, h), groups.len());
                    groups.push(vec![a]);
                }
            },
            None => groups.push(vec![a]),
        }
    }
    // Large households first, while large rooms are free.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(groups[g].len()));
    let mut out = Suggestion { placements: Vec::new(), unplaced: Vec::new() };
    for g in order {
        let group = &groups[g];
        let category = group[0].category;
        let household = group[0].household_id;
        let whole = if group.len() == 1 || rules.room_sharing != RoomSharing::Single {
            board.best(group, rules, |si, ri, r| {
                let same_household = household.is_some() && r.occupants.iter().any(|o| o.household_id == household);
                (!same_household, !board.floor_has(si, ri, category), r.free_beds() - group.len() as u32)
            })
        } else {
            None
        };
        if let Some((si, ri)) = whole {
            for a in group {
                out.placements.push(board.place(si, ri, a));
            }
            continue;
        }
        // One by one, as close to the first member as the rooms allow.
        let mut anchor: Option<(usize, i32)> = None;
        for a in group {
            let one = [*a];
            let found = board.best(&one, rules, |si, ri, r| {
                let (site_far, floor_far) = match anchor {
                    Some((asi, floor)) => (si != asi, !(si == asi && r.room.floor == floor)),
                    None => (false, false),
                };
                (site_far, floor_far, !board.floor_has(si, ri, category), r.free_beds())
            });
            match found {
                Some((si, ri)) => {
                    anchor.get_or_insert((si, board.sites[si].rooms[ri].room.floor));
                    out.placements.push(board.place(si, ri, a));
                }
                None => out.unplaced.push((a.order_id, board.why_not(category))),
            }
        }
    }
    out.placements.sort_by_key(|p| p.order_id);
    out.unplaced.sort_by_key(|(id, _)| *id);
    out
}

/// Checks the manager's placements (or moves), in order, against `sites` as they are
/// without the people being placed. A refusal names the order.
pub fn check_assignment(
    placements: &[(Arrival, i64)],
    sites: &[SiteSlots],
    rules: &QuarantineRules,
) -> Result<Vec<Placement>, (i64, FieldError)> {
    let mut board = Board::new(sites);
    let mut out = Vec::with_capacity(placements.len());
    for (who, room_id) in placements {
        let Some((si, ri)) = board.find(*room_id) else {
            return Err((who.order_id, Refusal::RoomUnknown.error()));
        };
        board.fits(si, ri, &[who], rules).map_err(|e| (who.order_id, e))?;
        out.push(board.place(si, ri, who));
    }
    Ok(out)
}

// ---- capacity ------------------------------------------------------------------------------

/// One stay at a site: from arrival to the release date (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stay {
    pub from: NaiveDate,
    pub until: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayCapacity {
    pub date: NaiveDate,
    pub beds: u64,
    pub occupied: u64,
    /// Negative: more people than beds.
    pub free: i64,
    pub arriving: u64,
    pub leaving: u64,
}

/// Beds taken on each of `days` days from `from`: the people in quarantine until their
/// release dates and the people still to come (the queue and orders not yet arrived,
/// counted from the day they are expected).
pub fn capacity_forecast(beds: u64, stays: &[Stay], from: NaiveDate, days: u32) -> Vec<DayCapacity> {
    (0..days)
        .map(|n| {
            let date = super::add_days(from, n);
            let occupied = stays.iter().filter(|s| s.from <= date && date < s.until).count() as u64;
            DayCapacity {
                date,
                beds,
                occupied,
                free: i64::try_from(beds).unwrap_or(i64::MAX) - i64::try_from(occupied).unwrap_or(i64::MAX),
                arriving: stays.iter().filter(|s| s.from == date).count() as u64,
                leaving: stays.iter().filter(|s| s.until == date).count() as u64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::area::AreaCode;
    use crate::containment::quarantine::{NewSite, SiteKind};
    use crate::policy::Profile;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn site(id: i64, kind: SiteKind, cats: &[Category], rooms: &[(i32, u32)]) -> SiteSlots {
        let s = NewSite::new("点", kind, "地址", AreaCode::parse("141102").unwrap(), "经理", None, None, cats, t0())
            .unwrap();
        SiteSlots {
            site: Site { id, site: s },
            rooms: rooms
                .iter()
                .enumerate()
                .map(|(i, (floor, beds))| RoomSlot {
                    room: Room {
                        id: id * 1000 + i as i64,
                        site_id: id,
                        floor: *floor,
                        number: format!("{floor}{i:02}"),
                        beds: *beds,
                        state: RoomState::Free,
                        state_at: t0(),
                    },
                    occupants: vec![],
                })
                .collect(),
        }
    }

    fn rules() -> QuarantineRules {
        Profile::shipped("protocol-9").unwrap().unwrap().quarantine
    }

    fn who(order_id: i64, category: Category, household: Option<i64>) -> Arrival {
        Occupant { order_id, category, household_id: household }
    }

    #[test]
    fn a_household_goes_together_into_the_smallest_room_that_holds_it() {
        let s = site(1, SiteKind::Hotel, &[Category::CloseContact], &[(1, 1), (1, 4), (1, 3), (2, 1)]);
        let arrivals = [
            who(1, Category::CloseContact, Some(7)),
            who(2, Category::CloseContact, Some(7)),
            who(3, Category::CloseContact, Some(7)),
            who(4, Category::CloseContact, None),
        ];
        let sug = suggest(&arrivals, std::slice::from_ref(&s), &rules());
        assert!(sug.unplaced.is_empty());
        let room = |o: i64| sug.placements.iter().find(|p| p.order_id == o).unwrap().room_id;
        assert_eq!((room(1), room(2), room(3)), (1002, 1002, 1002));
        assert_eq!(room(4), 1000);
    }

    #[test]
    fn categories_never_share_a_room_or_a_floor() {
        let s = site(1, SiteKind::Hotel, &[Category::CloseContact, Category::Arrival], &[(1, 2), (1, 2), (2, 2)]);
        let arrivals =
            [who(1, Category::CloseContact, None), who(2, Category::Arrival, None), who(3, Category::Arrival, None)];
        let sug = suggest(&arrivals, std::slice::from_ref(&s), &rules());
        let floor = |o: i64| {
            let r = sug.placements.iter().find(|p| p.order_id == o).unwrap().room_id;
            s.rooms.iter().find(|x| x.room.id == r).unwrap().room.floor
        };
        assert_eq!((floor(1), floor(2)), (1, 2));
        // Floor 1 holds a close contact, and the room on floor 2 is taken by someone of
        // another household: the third has no room.
        assert_eq!(sug.unplaced, vec![(3, Refusal::SiteFull.error())]);
        // Without separate floors the second room of floor 1 is used.
        let relaxed = QuarantineRules { separate_floors: false, ..rules() };
        let sug = suggest(&arrivals, std::slice::from_ref(&s), &relaxed);
        assert!(sug.unplaced.is_empty(), "{:?}", sug.unplaced);
    }

    #[test]
    fn cases_never_go_to_a_quarantine_site() {
        let hotel = site(1, SiteKind::Hotel, &[Category::CloseContact], &[(1, 2)]);
        let sug = suggest(&[who(1, Category::Case, None)], std::slice::from_ref(&hotel), &rules());
        assert_eq!(sug.unplaced[0].1.code, "case_not_quarantined");
        let fangcang = site(2, SiteKind::Fangcang, &[Category::Case], &[(1, 2)]);
        let sug = suggest(&[who(1, Category::Case, None)], &[hotel.clone(), fangcang], &rules());
        assert_eq!(sug.placements[0].site_id, 2);
        let sug = suggest(&[who(1, Category::Arrival, None)], std::slice::from_ref(&hotel), &rules());
        assert_eq!(sug.unplaced[0].1.code, "site_category");
    }

    #[test]
    fn a_full_site_says_so_and_rooms_out_of_use_take_nobody() {
        let mut s = site(1, SiteKind::Hotel, &[Category::CloseContact], &[(1, 1), (1, 1)]);
        s.rooms[1].room.state = RoomState::Cleaning;
        let arrivals = [who(1, Category::CloseContact, None), who(2, Category::CloseContact, None)];
        let sug = suggest(&arrivals, std::slice::from_ref(&s), &rules());
        assert_eq!(sug.placements.len(), 1);
        assert_eq!(sug.unplaced, vec![(2, Refusal::SiteFull.error())]);
    }

    #[test]
    fn the_managers_choice_is_checked_by_the_same_rules() {
        let mut s = site(1, SiteKind::Hotel, &[Category::CloseContact, Category::Arrival], &[(1, 2), (1, 1), (2, 1)]);
        s.rooms[0].occupants.push(who(9, Category::CloseContact, Some(5)));
        let r = rules();
        let check = |placements: &[(Arrival, i64)]| check_assignment(placements, std::slice::from_ref(&s), &r);
        assert!(check(&[(who(1, Category::CloseContact, Some(5)), 1000)]).is_ok());
        assert_eq!(
            check(&[(who(1, Category::CloseContact, Some(6)), 1000)]).unwrap_err().1.code,
            "room_household_only"
        );
        assert_eq!(check(&[(who(1, Category::Arrival, None), 1000)]).unwrap_err().1.code, "room_category_mixed");
        assert_eq!(check(&[(who(1, Category::Arrival, None), 1001)]).unwrap_err().1.code, "floor_category_mixed");
        assert!(check(&[(who(1, Category::Arrival, None), 1002)]).is_ok());
        let over = [(who(1, Category::CloseContact, Some(5)), 1000), (who(2, Category::CloseContact, Some(5)), 1000)];
        assert_eq!(check(&over).unwrap_err(), (2, Refusal::RoomOverCapacity.error()));
        assert_eq!(check(&[(who(1, Category::Case, None), 1002)]).unwrap_err().1.code, "case_not_quarantined");
        assert_eq!(check(&[(who(1, Category::Arrival, None), 77)]).unwrap_err().1.code, "room_unknown");
        let single = QuarantineRules { room_sharing: RoomSharing::Single, ..r.clone() };
        let e = check_assignment(&[(who(1, Category::CloseContact, Some(5)), 1000)], std::slice::from_ref(&s), &single);
        assert_eq!(e.unwrap_err().1.code, "room_single");
    }

    #[test]
    fn capacity_forecast_from_stays() {
        let d = |n| super::super::add_days(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(), n);
        let stays =
            [Stay { from: d(0), until: d(2) }, Stay { from: d(1), until: d(3) }, Stay { from: d(1), until: d(8) }];
        let f = capacity_forecast(2, &stays, d(0), 4);
        let occ: Vec<(u64, i64, u64, u64)> = f.iter().map(|c| (c.occupied, c.free, c.arriving, c.leaving)).collect();
        assert_eq!(occ, vec![(1, 1, 1, 0), (3, -1, 2, 0), (2, 0, 0, 1), (1, 1, 0, 1)]);
    }

    /// People (category, household), rooms (floor, beds, state), sharing, floors, together.
    type Case = (Vec<(u8, Option<u8>)>, Vec<(i32, u32, u8)>, u8, bool, bool);

    fn arb_case() -> impl Strategy<Value = Case> {
        (
            prop::collection::vec((0u8..3, prop::option::of(0u8..8)), 0..40),
            prop::collection::vec((1i32..4, 1u32..5, 0u8..4), 1..25),
            0u8..3,
            any::<bool>(),
            any::<bool>(),
        )
    }

    const CATS: [Category; 3] = [Category::CloseContact, Category::SecondaryContact, Category::Arrival];

    proptest! {
        /// Whatever the arrivals and rooms: no room over capacity, no categories mixed in a
        /// room (nor on a floor where the rules say so), sharing as the rules allow, every
        /// placement one the manager's check accepts, and everyone placed or told why.
        #[test]
        fn suggestions_keep_every_rule((people, rooms, sharing, floors, together) in arb_case()) {
            let rules = QuarantineRules {
                room_sharing: [RoomSharing::Single, RoomSharing::Household, RoomSharing::Category][sharing as usize],
                separate_floors: floors,
                household_together: together,
                ..rules()
            };
            let layout: Vec<(i32, u32)> = rooms.iter().map(|(f, b, _)| (*f, *b)).collect();
            let mut s = site(1, SiteKind::Hotel, &CATS, &layout);
            for (slot, (_, _, st)) in s.rooms.iter_mut().zip(&rooms) {
                if *st == 3 { slot.room.state = RoomState::Cleaning; }
            }
            // Households belong to one category.
            let arrivals: Vec<Arrival> = people.iter().enumerate()
                .map(|(i, (c, h))| {
                    let category = h.map_or(CATS[*c as usize], |h| CATS[h as usize % 3]);
                    who(i as i64 + 1, category, h.map(i64::from))
                })
                .collect();
            let sug = suggest(&arrivals, std::slice::from_ref(&s), &rules);
            prop_assert_eq!(sug.placements.len() + sug.unplaced.len(), arrivals.len());
            let mut by_room: HashMap<i64, Vec<&Arrival>> = HashMap::new();
            for p in &sug.placements {
                by_room.entry(p.room_id).or_default().push(arrivals.iter().find(|a| a.order_id == p.order_id).unwrap());
            }
            let mut floor_cats: HashMap<i32, HashSet<Category>> = HashMap::new();
            for (room_id, people) in &by_room {
                let room = &s.rooms.iter().find(|r| r.room.id == *room_id).unwrap().room;
                prop_assert!(people.len() as u32 <= room.beds, "over capacity");
                prop_assert!(room.state == RoomState::Free);
                prop_assert!(people.iter().all(|p| p.category == people[0].category), "mixed room");
                match rules.room_sharing {
                    RoomSharing::Single => prop_assert_eq!(people.len(), 1),
                    RoomSharing::Household if people.len() > 1 => {
                        prop_assert!(people[0].household_id.is_some());
                        prop_assert!(people.iter().all(|p| p.household_id == people[0].household_id));
                    }
                    _ => {}
                }
                floor_cats.entry(room.floor).or_default().insert(people[0].category);
            }
            if rules.separate_floors {
                prop_assert!(floor_cats.values().all(|c| c.len() == 1), "mixed floor");
            }
            let chosen: Vec<(Arrival, i64)> = sug.placements.iter()
                .map(|p| (arrivals.iter().find(|a| a.order_id == p.order_id).unwrap().clone(), p.room_id))
                .collect();
            prop_assert!(check_assignment(&chosen, std::slice::from_ref(&s), &rules).is_ok());
        }

        /// With rooms enough, each big enough for any household, every household shares
        /// one room.
        #[test]
        fn households_stay_together_when_rooms_allow(households in prop::collection::vec(1usize..5, 1..10)) {
            let rooms: Vec<(i32, u32)> = (0..households.len()).map(|i| (1 + (i as i32 % 3), 4)).collect();
            let s = site(1, SiteKind::Hotel, &[Category::CloseContact], &rooms);
            let mut arrivals = Vec::new();
            for (h, n) in households.iter().enumerate() {
                for _ in 0..*n {
                    arrivals.push(who(arrivals.len() as i64 + 1, Category::CloseContact, Some(h as i64)));
                }
            }
            let sug = suggest(&arrivals, std::slice::from_ref(&s), &rules());
            prop_assert!(sug.unplaced.is_empty());
            let mut room_of: HashMap<i64, HashSet<i64>> = HashMap::new();
            for p in &sug.placements {
                let h = arrivals.iter().find(|a| a.order_id == p.order_id).unwrap().household_id.unwrap();
                room_of.entry(h).or_default().insert(p.room_id);
            }
            prop_assert!(room_of.values().all(|rooms| rooms.len() == 1));
        }
    }
}
