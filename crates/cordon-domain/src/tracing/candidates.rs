//! Candidate contacts proposed from what the district already knows (SPEC §6): the
//! case's household, the people sampled in the same tubes (pool mates), the residents of
//! the same unit where the profile says so, everyone at the same venue or checkpoint
//! within the profile's window of the case's presence (时空伴随), a confirmed close
//! contact's household (contacts of contacts), and everyone checked in at a place the
//! tracer marks as an exposure site. Nothing here makes a contact: a tracer confirms.
//!
//! One proposal per person: when several rules find the same person, the strongest class
//! wins (then the earlier rule in [`Source`] order), with the latest exposure found.

use super::{Class, PlaceKind, Source};
use crate::policy::Profile;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// A venue or a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Place {
    pub kind: PlaceKind,
    pub id: i64,
}

/// Someone's presence at a place over `[from, until]` (a scan or a check-in is an
/// instant: `from == until`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Presence {
    pub place: Place,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// Another person seen at a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sighting {
    pub resident_id: i64,
    pub place: Place,
    pub at: DateTime<Utc>,
}

/// A sample of someone in one of the case's tubes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolMate {
    pub resident_id: i64,
    pub tube_id: i64,
    pub sampled_at: DateTime<Utc>,
}

/// What the rules need about one case, fetched by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandidateFacts {
    pub resident_id: i64,
    /// The window: exposures from `from` to `to` count.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Household members (the case excluded or not: it is skipped).
    pub household: Vec<i64>,
    pub pool_mates: Vec<PoolMate>,
    /// Residents of the case's unit.
    pub unit: Vec<i64>,
    /// The case's own presences in the window.
    pub presences: Vec<Presence>,
    /// Others seen at those places around those times.
    pub sightings: Vec<Sighting>,
    /// People who are cases: never proposed.
    pub cases: HashSet<i64>,
    /// People already proposed for, or contacts of, this case: not proposed again.
    pub known: HashSet<i64>,
}

/// Why a candidate is proposed, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub place: Option<Place>,
    pub tube_id: Option<i64>,
    /// When the other person was there (or sampled).
    pub at: Option<DateTime<Utc>>,
    /// When the case was there.
    pub case_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    pub resident_id: i64,
    pub class: Class,
    pub source: Source,
    pub last_exposure: DateTime<Utc>,
    pub evidence: Evidence,
}

fn none() -> Evidence {
    Evidence { place: None, tube_id: None, at: None, case_at: None }
}

struct Picker<'a> {
    facts: &'a CandidateFacts,
    best: BTreeMap<i64, Proposal>,
}

impl Picker<'_> {
    fn offer(&mut self, p: Proposal) {
        let f = self.facts;
        if p.resident_id == f.resident_id || f.cases.contains(&p.resident_id) || f.known.contains(&p.resident_id) {
            return;
        }
        match self.best.get_mut(&p.resident_id) {
            None => {
                self.best.insert(p.resident_id, p);
            }
            Some(cur) => {
                let later = p.last_exposure.max(cur.last_exposure);
                if (p.class, std::cmp::Reverse(p.source)) > (cur.class, std::cmp::Reverse(cur.source)) {
                    *cur = p;
                }
                cur.last_exposure = later;
            }
        }
    }
}

/// Whether `at` falls within `minutes` of the presence.
pub fn within(p: &Presence, at: DateTime<Utc>, minutes: u32) -> bool {
    let w = Duration::minutes(i64::from(minutes));
    at >= p.from - w && at <= p.until + w
}

/// Candidates of a case: household, pool mates, same unit (when the profile says so) and
/// co-presence, each with the class the profile gives it.
pub fn propose(f: &CandidateFacts, profile: &Profile) -> Vec<Proposal> {
    let t = &profile.tracing;
    let Some(to) = f.to else { return Vec::new() };
    let from = f.from.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut pick = Picker { facts: f, best: BTreeMap::new() };
    for r in &f.household {
        pick.offer(Proposal {
            resident_id: *r,
            class: t.household_class.under(profile),
            source: Source::Household,
            last_exposure: to,
            evidence: none(),
        });
    }
    for m in f.pool_mates.iter().filter(|m| m.sampled_at >= from && m.sampled_at <= to) {
        pick.offer(Proposal {
            resident_id: m.resident_id,
            class: t.pool_mate_class.under(profile),
            source: Source::PoolMate,
            last_exposure: m.sampled_at,
            evidence: Evidence { tube_id: Some(m.tube_id), at: Some(m.sampled_at), ..none() },
        });
    }
    if t.same_unit {
        for r in &f.unit {
            pick.offer(Proposal {
                resident_id: *r,
                class: t.same_unit_class.under(profile),
                source: Source::SameUnit,
                last_exposure: to,
                evidence: none(),
            });
        }
    }
    copresent(&mut pick, &f.presences, &f.sightings, (from, to), t.copresence_minutes, profile, Source::Copresence);
    pick.best.into_values().collect()
}

fn copresent(
    pick: &mut Picker<'_>,
    presences: &[Presence],
    sightings: &[Sighting],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    minutes: u32,
    profile: &Profile,
    source: Source,
) {
    let class = profile.tracing.copresence_class.under(profile);
    for p in presences.iter().filter(|p| p.until >= from && p.from <= to) {
        for s in sightings.iter().filter(|s| s.place == p.place && within(p, s.at, minutes)) {
            // The exposure ends at the later of the two presences (never after the window).
            let last = s.at.max(p.from).min(to);
            pick.offer(Proposal {
                resident_id: s.resident_id,
                class,
                source,
                last_exposure: last,
                evidence: Evidence { place: Some(p.place), at: Some(s.at), case_at: Some(p.from), tube_id: None },
            });
        }
    }
}

/// Everyone seen at a place the tracer marked as an exposure site (`site`, widened by the
/// profile's window), up to `now`.
pub fn propose_site(f: &CandidateFacts, site: &Presence, now: DateTime<Utc>, profile: &Profile) -> Vec<Proposal> {
    let mut pick = Picker { facts: f, best: BTreeMap::new() };
    let bounds = (DateTime::<Utc>::MIN_UTC, now);
    copresent(
        &mut pick,
        std::slice::from_ref(site),
        &f.sightings,
        bounds,
        profile.tracing.copresence_minutes,
        profile,
        Source::ExposureSite,
    );
    pick.best.into_values().collect()
}

/// A confirmed close contact's household, as secondary candidates (exposed until `at`,
/// when the contact was confirmed), where the profile traces contacts of contacts.
pub fn propose_contacts_of(
    f: &CandidateFacts,
    contact: i64,
    household: &[i64],
    at: DateTime<Utc>,
    profile: &Profile,
) -> Vec<Proposal> {
    if !profile.tracing.contacts_of_contacts {
        return Vec::new();
    }
    let mut pick = Picker { facts: f, best: BTreeMap::new() };
    for r in household.iter().filter(|r| **r != contact) {
        pick.offer(Proposal {
            resident_id: *r,
            class: Class::Secondary.under(profile),
            source: Source::ContactOfContact,
            last_exposure: at,
            evidence: none(),
        });
    }
    pick.best.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn p(name: &str) -> Profile {
        Profile::shipped(name).unwrap().unwrap()
    }
    fn t(h: i64, m: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap() + Duration::hours(h) + Duration::minutes(m)
    }
    const VENUE: Place = Place { kind: PlaceKind::Venue, id: 7 };
    const GATE: Place = Place { kind: PlaceKind::Checkpoint, id: 3 };

    /// The hand-built fixture: case 1 in household {1, 2, 3}, unit {1, 2, 3, 4, 5},
    /// pooled with 2 and 6 (and 9, sampled before the window); at the venue at 10:00
    /// and through the gate at 12:00; others around those times.
    fn fixture() -> CandidateFacts {
        CandidateFacts {
            resident_id: 1,
            from: Some(t(0, 0)),
            to: Some(t(20, 0)),
            household: vec![1, 2, 3],
            pool_mates: vec![
                PoolMate { resident_id: 2, tube_id: 50, sampled_at: t(8, 0) },
                PoolMate { resident_id: 6, tube_id: 50, sampled_at: t(8, 0) },
                PoolMate { resident_id: 9, tube_id: 49, sampled_at: t(-30, 0) },
            ],
            unit: vec![1, 2, 3, 4, 5],
            presences: vec![
                Presence { place: VENUE, from: t(10, 0), until: t(10, 0) },
                Presence { place: GATE, from: t(12, 0), until: t(12, 0) },
            ],
            sightings: vec![
                // At the window's edges: 30 minutes before and after are in, 31 out.
                Sighting { resident_id: 10, place: VENUE, at: t(9, 30) },
                Sighting { resident_id: 11, place: VENUE, at: t(10, 30) },
                Sighting { resident_id: 12, place: VENUE, at: t(9, 29) },
                Sighting { resident_id: 13, place: VENUE, at: t(10, 31) },
                // Same time, other place.
                Sighting { resident_id: 14, place: GATE, at: t(10, 0) },
                Sighting { resident_id: 15, place: GATE, at: t(12, 5) },
                // A case already, and someone already proposed.
                Sighting { resident_id: 20, place: VENUE, at: t(10, 0) },
                Sighting { resident_id: 21, place: VENUE, at: t(10, 0) },
                // Also a unit neighbour: the stronger class wins.
                Sighting { resident_id: 4, place: GATE, at: t(12, 10) },
            ],
            cases: [20].into_iter().collect(),
            known: [21].into_iter().collect(),
        }
    }

    fn by_person(v: &[Proposal]) -> BTreeMap<i64, (Class, Source, DateTime<Utc>)> {
        v.iter().map(|p| (p.resident_id, (p.class, p.source, p.last_exposure))).collect()
    }

    #[test]
    fn each_rule_against_the_fixture() {
        let got = by_person(&propose(&fixture(), &p("protocol-9")));
        let want: BTreeMap<i64, (Class, Source, DateTime<Utc>)> = [
            (2, (Class::Close, Source::Household, t(20, 0))),
            (3, (Class::Close, Source::Household, t(20, 0))),
            (4, (Class::Close, Source::Copresence, t(20, 0))),
            (5, (Class::Secondary, Source::SameUnit, t(20, 0))),
            (6, (Class::Close, Source::PoolMate, t(8, 0))),
            (10, (Class::Close, Source::Copresence, t(10, 0))),
            (11, (Class::Close, Source::Copresence, t(10, 30))),
            (15, (Class::Close, Source::Copresence, t(12, 5))),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn evidence_names_the_place_and_the_tube() {
        let all = propose(&fixture(), &p("protocol-9"));
        let ten = all.iter().find(|x| x.resident_id == 10).unwrap();
        assert_eq!(ten.evidence.place, Some(VENUE));
        assert_eq!((ten.evidence.at, ten.evidence.case_at), (Some(t(9, 30)), Some(t(10, 0))));
        let six = all.iter().find(|x| x.resident_id == 6).unwrap();
        assert_eq!(six.evidence.tube_id, Some(50));
    }

    #[test]
    fn profile_switch_changes_classes() {
        let got = by_person(&propose(&fixture(), &p("measures-20")));
        // No secondary contacts: the unit's neighbours are general contacts.
        assert_eq!(got[&5].0, Class::General);
        assert_eq!(got[&2].0, Class::Close);
        let mut off = p("protocol-9");
        off.tracing.same_unit = false;
        let got = by_person(&propose(&fixture(), &off));
        assert!(!got.contains_key(&5));
        assert_eq!(got[&4].1, Source::Copresence);
    }

    #[test]
    fn a_wider_window_takes_the_edges() {
        let mut wide = p("protocol-9");
        wide.tracing.copresence_minutes = 31;
        let got = by_person(&propose(&fixture(), &wide));
        assert!(got.contains_key(&12) && got.contains_key(&13));
        wide.tracing.copresence_minutes = 1;
        let got = by_person(&propose(&fixture(), &wide));
        assert!(!got.contains_key(&10) && !got.contains_key(&11) && !got.contains_key(&15));
    }

    #[test]
    fn nothing_without_a_window() {
        let f = CandidateFacts { to: None, ..fixture() };
        assert!(propose(&f, &p("protocol-9")).is_empty());
    }

    #[test]
    fn contacts_of_contacts() {
        let f = fixture();
        let got = propose_contacts_of(&f, 30, &[30, 31, 32, 2, 20], t(21, 0), &p("protocol-9"));
        let got = by_person(&got);
        // The contact itself, the case's household member 2 (a person seen twice is
        // still proposed: not yet known) and case 20 are handled: 20 is a case.
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), vec![2, 31, 32]);
        assert!(got.values().all(|v| v.0 == Class::Secondary && v.1 == Source::ContactOfContact));
        assert!(propose_contacts_of(&f, 30, &[30, 31], t(21, 0), &p("measures-20")).is_empty());
    }

    #[test]
    fn an_exposure_site_proposes_everyone_there() {
        let f = fixture();
        let site = Presence { place: VENUE, from: t(9, 0), until: t(10, 0) };
        let got = by_person(&propose_site(&f, &site, t(22, 0), &p("protocol-9")));
        assert_eq!(got.keys().copied().collect::<Vec<_>>(), vec![10, 11, 12]);
        assert!(got.values().all(|v| v.1 == Source::ExposureSite));
    }
}
