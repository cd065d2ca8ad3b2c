//! The zone clock (风险区自动降级): proposals of zones around a new case, the commander's
//! decision on them, the day's steps, the forecast of the next run, and what a zone does
//! to movement at a gate.
//!
//! **Counting days.** A zone's clock starts at its designation or at the last new
//! infection in its area, whichever is later. A day is clear when it passed whole after
//! that start (a zone started by the clock itself at 00:00 counts that day). A zone that
//! needs `n` clear days steps down at the profile's `clock_time` of the day after its
//! `n`-th clear day, and — where the profile asks for it — only when a testing round on
//! its last clear day found everyone in the zone negative. A new infection resets the
//! clock. The step of a high zone that lands on medium starts a new designation, which
//! then counts the profile's `medium_after_high_clear_days`; a step to low ends the zone.
//!
//! **Idempotent.** [`plan_zone_day`] for the same date on the facts its own steps left
//! behind plans nothing: every zone a step created starts at the run's instant and needs
//! at least one more whole day (property-tested below).

use super::{Refusal, add_days, days_between, first_whole_day, local_date, local_instant};
use crate::area::AreaCode;
use crate::colour::{Decision, Direction, ZoneExposure};
use crate::error::FieldError;
use crate::policy::{Movement, Profile};
use crate::zone::{NewZone, RiskZone, ZoneLevel};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// One active resident of a zone in one testing round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundPerson {
    pub resident_id: i64,
    /// A case (taken to hospital or a shelter hospital): not in the zone.
    pub case: bool,
    /// In transfer or at a quarantine site: not in the zone.
    pub away: bool,
    pub exempt: bool,
    pub sampled: bool,
    /// Sampled, and the tube's result is negative.
    pub negative: bool,
}

/// A testing round covering a zone, with every active resident of the zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRound {
    pub round_id: i64,
    pub people: Vec<RoundPerson>,
}

impl ZoneRound {
    /// Who the round needed (the people in the zone: not cases, not away, not exempt
    /// unless they were sampled anyway), how many were sampled, how many negative.
    pub fn outcome(&self) -> RoundOutcome {
        let expected: Vec<&RoundPerson> =
            self.people.iter().filter(|p| !p.case && !p.away && (p.sampled || !p.exempt)).collect();
        RoundOutcome {
            round_id: self.round_id,
            expected: expected.len() as u64,
            sampled: expected.iter().filter(|p| p.sampled).count() as u64,
            negative: expected.iter().filter(|p| p.sampled && p.negative).count() as u64,
        }
    }
}

/// How a testing round went in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundOutcome {
    pub round_id: i64,
    pub expected: u64,
    pub sampled: u64,
    pub negative: u64,
}

impl RoundOutcome {
    /// Everyone expected was sampled and every sample is negative.
    pub fn all_negative(&self) -> bool {
        self.sampled >= self.expected && self.negative == self.sampled
    }
}

/// An open zone with what its clock needs, as of the run's instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneFacts {
    pub zone: RiskZone,
    /// A medium zone the clock made from a high one.
    pub came_from_high: bool,
    /// The latest case living in the zone's area, up to the run's instant.
    pub last_infection: Option<DateTime<Utc>>,
    /// Rounds covering the zone on the day before the run's date (its last clear day).
    pub rounds: Vec<ZoneRound>,
}

impl ZoneFacts {
    fn all_negative_round(&self) -> bool {
        self.rounds.iter().any(|r| r.outcome().all_negative())
    }
    fn outcomes(&self) -> Vec<RoundOutcome> {
        self.rounds.iter().map(ZoneRound::outcome).collect()
    }
}

/// A zone's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ZoneClock {
    pub next: ZoneLevel,
    /// Clear days the step needs.
    pub needed: u32,
    /// The first day that counts.
    pub clear_since: NaiveDate,
    /// The date of the step, if no infection comes.
    pub due: NaiveDate,
    /// The infection after the zone's start that restarted the clock.
    pub reset_by: Option<DateTime<Utc>>,
    pub needs_round: bool,
}

impl ZoneClock {
    /// Whole clear days before `date`.
    pub fn clear_days(&self, date: NaiveDate) -> u32 {
        u32::try_from(days_between(self.clear_since, date).max(0)).unwrap_or(u32::MAX)
    }
}

/// The profile's clock time (midnight if a hand-built profile has none).
pub fn clock_time(profile: &Profile) -> NaiveTime {
    profile.zones.clock_time().unwrap_or(NaiveTime::MIN)
}

/// The instant the clock applies `date`'s steps.
pub fn run_instant(profile: &Profile, date: NaiveDate, offset: FixedOffset) -> DateTime<Utc> {
    local_instant(date, clock_time(profile), offset)
}

/// The latest date whose run instant has come at `now`.
pub fn due_date(profile: &Profile, now: DateTime<Utc>, offset: FixedOffset) -> NaiveDate {
    let today = local_date(now, offset);
    if run_instant(profile, today, offset) <= now { today } else { today.pred_opt().unwrap_or(today) }
}

/// The clock of a zone; `None` for a zone that does not step (low).
pub fn clock(f: &ZoneFacts, profile: &Profile, offset: FixedOffset) -> Option<ZoneClock> {
    let (next, needed) = profile.zone_step(f.zone.level, f.came_from_high)?;
    let start = f.zone.starts_at;
    let reset_by = f.last_infection.filter(|t| *t > start);
    let clear_since = first_whole_day(reset_by.unwrap_or(start), offset);
    Some(ZoneClock {
        next,
        needed,
        clear_since,
        due: add_days(clear_since, needed),
        reset_by,
        needs_round: profile.zones.needs_negative_round(f.zone.level),
    })
}

/// One zone stepping down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneStep {
    pub zone_id: i64,
    pub area: AreaCode,
    pub from: ZoneLevel,
    /// `Low` ends the zone; otherwise a new designation of this level starts at `at`.
    pub to: ZoneLevel,
    /// Clear days counted.
    pub days: u32,
    pub at: DateTime<Utc>,
}

impl ZoneStep {
    /// The reason written on the designation the step makes.
    pub fn reason(&self) -> String {
        format!("连续{}天无新增感染者，由{}降为{}", self.days, self.from.zh(), self.to.zh())
    }
}

/// Why a zone due to step did not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    pub zone_id: i64,
    pub area: AreaCode,
    /// The rounds of its last clear day (none, or none all negative).
    pub rounds: Vec<RoundOutcome>,
}

/// The steps of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneDayPlan {
    pub date: NaiveDate,
    pub at: DateTime<Utc>,
    pub steps: Vec<ZoneStep>,
    /// Due, but waiting for an all-negative round on the last clear day.
    pub held: Vec<Held>,
}

fn considered(f: &ZoneFacts, at: DateTime<Utc>) -> bool {
    f.zone.starts_at <= at && f.zone.ends_at.is_none_or(|e| e > at)
}

/// The steps the clock applies on `date`. `zones` are the open zones with their facts as
/// of [`run_instant`] of `date` (rounds of the day before). Zones are taken in the order
/// given; at most one step per zone.
pub fn plan_zone_day(zones: &[ZoneFacts], profile: &Profile, date: NaiveDate, offset: FixedOffset) -> ZoneDayPlan {
    let at = run_instant(profile, date, offset);
    let mut plan = ZoneDayPlan { date, at, steps: Vec::new(), held: Vec::new() };
    for f in zones.iter().filter(|f| considered(f, at)) {
        let facts = ZoneFacts { last_infection: f.last_infection.filter(|t| *t <= at), ..f.clone() };
        let Some(c) = clock(&facts, profile, offset) else { continue };
        if c.due > date {
            continue;
        }
        if c.needs_round && !f.all_negative_round() {
            plan.held.push(Held { zone_id: f.zone.id, area: f.zone.area.clone(), rounds: f.outcomes() });
            continue;
        }
        plan.steps.push(ZoneStep {
            zone_id: f.zone.id,
            area: f.zone.area.clone(),
            from: f.zone.level,
            to: c.next,
            days: c.clear_days(date),
            at,
        });
    }
    plan
}

/// What the next run will do with a zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outlook {
    /// Steps down at the run.
    Steps,
    /// Due, but no round of its last clear day (so far) found everyone negative.
    AwaitsRound,
    /// Would have stepped down by then, but a new infection restarted its clock: on
    /// `zone_day` (day 0 = the zone's first day), `case_date`.
    ResetByCase { case_date: NaiveDate, zone_day: i64 },
    /// Counting.
    Waiting,
    /// A zone without a clock (low).
    NoClock,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneOutlook {
    pub zone: RiskZone,
    pub next: Option<ZoneLevel>,
    /// Clear days by the run, and the days needed.
    pub clear_days: u32,
    pub needed: u32,
    /// The date of its step if nothing happens.
    pub due: Option<NaiveDate>,
    pub outlook: Outlook,
}

/// The commander's forecast of one run: every open zone with its clock and what the run
/// will do, and the counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forecast {
    pub date: NaiveDate,
    pub at: DateTime<Utc>,
    pub zones: Vec<ZoneOutlook>,
    pub steps: u32,
    pub reset_by_case: u32,
    pub awaiting_round: u32,
    /// Open zones per level, high first.
    pub by_level: Vec<(ZoneLevel, u32)>,
}

impl Forecast {
    /// "明日 00:00：3个风险区降级，2个因第6天新增病例重新计时" / "00:00: 3 zones step down,
    /// 2 blocked by a case on day 6". `when_zh`/`when_en` name the day ("明日", "tomorrow").
    pub fn summary(&self, when_zh: &str, when_en: &str, offset: FixedOffset) -> (String, String) {
        let time = self.at.with_timezone(&offset).format("%H:%M").to_string();
        let mut days: Vec<i64> = self
            .zones
            .iter()
            .filter_map(|z| match z.outlook {
                Outlook::ResetByCase { zone_day, .. } => Some(zone_day),
                _ => None,
            })
            .collect();
        days.sort_unstable();
        days.dedup();
        let list_zh = days.iter().map(|d| format!("第{d}天")).collect::<Vec<_>>().join("、");
        let list_en = days.iter().map(|d| format!("day {d}")).collect::<Vec<_>>().join(", ");
        let mut zh = format!("{when_zh} {time}：{}个风险区降级", self.steps);
        let mut en =
            format!("{when_en} {time}: {} zone{} step down", self.steps, if self.steps == 1 { "" } else { "s" });
        if self.reset_by_case > 0 {
            zh.push_str(&format!("，{}个因{list_zh}新增病例重新计时", self.reset_by_case));
            en.push_str(&format!(", {} blocked by a case on {list_en}", self.reset_by_case));
        }
        if self.awaiting_round > 0 {
            zh.push_str(&format!("，{}个待末日全员核酸阴性", self.awaiting_round));
            en.push_str(&format!(", {} awaiting an all-negative round", self.awaiting_round));
        }
        (zh, en)
    }
}

/// The forecast of the run on `date` from the open zones' facts as of now (rounds of the
/// day before `date`).
pub fn forecast(zones: &[ZoneFacts], profile: &Profile, date: NaiveDate, offset: FixedOffset) -> Forecast {
    let at = run_instant(profile, date, offset);
    let mut out = Forecast {
        date,
        at,
        zones: Vec::with_capacity(zones.len()),
        steps: 0,
        reset_by_case: 0,
        awaiting_round: 0,
        by_level: ZoneLevel::ALL.iter().map(|l| (*l, 0)).collect(),
    };
    for f in zones.iter().filter(|f| f.zone.ends_at.is_none()) {
        if let Some(slot) = out.by_level.iter_mut().find(|(l, _)| *l == f.zone.level) {
            slot.1 += 1;
        }
        let Some(c) = clock(f, profile, offset) else {
            out.zones.push(ZoneOutlook {
                zone: f.zone.clone(),
                next: None,
                clear_days: 0,
                needed: 0,
                due: None,
                outlook: Outlook::NoClock,
            });
            continue;
        };
        let without_reset = add_days(first_whole_day(f.zone.starts_at, offset), c.needed);
        let outlook = if c.due <= date {
            if c.needs_round && !f.all_negative_round() {
                out.awaiting_round += 1;
                Outlook::AwaitsRound
            } else {
                out.steps += 1;
                Outlook::Steps
            }
        } else if let Some(t) = c.reset_by.filter(|_| without_reset <= date) {
            out.reset_by_case += 1;
            let case_date = local_date(t, offset);
            Outlook::ResetByCase { case_date, zone_day: days_between(local_date(f.zone.starts_at, offset), case_date) }
        } else {
            Outlook::Waiting
        };
        out.zones.push(ZoneOutlook {
            zone: f.zone.clone(),
            next: Some(c.next),
            clear_days: c.clear_days(date).min(c.needed),
            needed: c.needed,
            due: Some(c.due),
            outlook,
        });
    }
    out
}

// ---- proposals ----------------------------------------------------------------------------

/// Where a new case lives, as the zone proposals need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseHome {
    pub case_id: i64,
    pub resident_id: i64,
    pub unit: AreaCode,
    pub at: DateTime<Utc>,
}

/// A zone a case proposes, before the commander decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposedZone {
    pub case_id: i64,
    pub case_unit: AreaCode,
    pub area: AreaCode,
    pub level: ZoneLevel,
    pub reason: String,
    pub proposed_at: DateTime<Utc>,
}

/// The zones a new case proposes: a high zone on the profile's level of its home (unit or
/// building) and, where the profile has medium zones, a medium zone on the profile's
/// level around it — each unless an open zone of that level or higher already covers the
/// area, or one is already proposed (`pending`).
pub fn propose_zones(
    case: &CaseHome,
    open: &[RiskZone],
    pending: &[ProposedZone],
    profile: &Profile,
    now: DateTime<Utc>,
) -> Vec<ProposedZone> {
    let mut out = Vec::new();
    for level in [ZoneLevel::High, ZoneLevel::Medium] {
        let Some(area_level) = profile.zones.proposed_area(level) else { continue };
        let Some(area) = case.unit.lineage().into_iter().find(|a| a.level() == area_level) else { continue };
        let covered = open.iter().any(|z| z.active_at(now) && z.area.contains(&area) && z.level >= level);
        let proposed = pending.iter().chain(out.iter()).any(|p| p.area == area && p.level >= level);
        if covered || proposed {
            continue;
        }
        out.push(ProposedZone {
            case_id: case.case_id,
            case_unit: case.unit.clone(),
            area,
            level,
            reason: format!("新增病例居住地（病例#{}）", case.case_id),
            proposed_at: now,
        });
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Proposed,
    Accepted,
    Widened,
    Narrowed,
    Rejected,
}

impl ProposalStatus {
    pub const ALL: [ProposalStatus; 5] = [
        ProposalStatus::Proposed,
        ProposalStatus::Accepted,
        ProposalStatus::Widened,
        ProposalStatus::Narrowed,
        ProposalStatus::Rejected,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Proposed => "proposed",
            ProposalStatus::Accepted => "accepted",
            ProposalStatus::Widened => "widened",
            ProposalStatus::Narrowed => "narrowed",
            ProposalStatus::Rejected => "rejected",
        }
    }
    pub fn parse(s: &str) -> Option<ProposalStatus> {
        ProposalStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A stored proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneProposal {
    pub id: i64,
    #[serde(flatten)]
    pub proposed: ProposedZone,
    pub status: ProposalStatus,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    /// The zone the decision designated.
    pub zone_id: Option<i64>,
}

/// The commander's decision on a proposal, in one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "area", rename_all = "snake_case")]
pub enum ZoneDecision {
    Accept,
    /// Designate a larger area that contains the proposed one.
    Widen(AreaCode),
    /// Designate a smaller area inside it that still holds the case's home.
    Narrow(AreaCode),
    Reject,
}

impl ZoneDecision {
    pub fn status(&self) -> ProposalStatus {
        match self {
            ZoneDecision::Accept => ProposalStatus::Accepted,
            ZoneDecision::Widen(_) => ProposalStatus::Widened,
            ZoneDecision::Narrow(_) => ProposalStatus::Narrowed,
            ZoneDecision::Reject => ProposalStatus::Rejected,
        }
    }

    /// The area the decision designates, if any (before checks).
    pub fn area<'a>(&'a self, p: &'a ZoneProposal) -> Option<&'a AreaCode> {
        match self {
            ZoneDecision::Accept => Some(&p.proposed.area),
            ZoneDecision::Widen(a) | ZoneDecision::Narrow(a) => Some(a),
            ZoneDecision::Reject => None,
        }
    }
}

/// Checks a decision: the zone to designate (`None` for a rejection). `area_exists`
/// says whether the decision's area is in the area tree.
pub fn decide_proposal(
    p: &ZoneProposal,
    d: &ZoneDecision,
    area_exists: bool,
    profile: &Profile,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<NewZone>, FieldError> {
    if p.status != ProposalStatus::Proposed {
        return Err(Refusal::ProposalDecided.error());
    }
    let Some(area) = d.area(p) else { return Ok(None) };
    match d {
        ZoneDecision::Widen(a) if !(a != &p.proposed.area && a.contains(&p.proposed.area)) => {
            return Err(Refusal::WidenNotAncestor.error());
        }
        ZoneDecision::Narrow(a)
            if !(a != &p.proposed.area && p.proposed.area.contains(a) && a.contains(&p.proposed.case_unit)) =>
        {
            return Err(Refusal::NarrowNotInside.error());
        }
        _ => {}
    }
    let zone = NewZone::new(area.clone(), p.proposed.level, &p.proposed.reason, now, by, now)?;
    check_zone_order(&zone, area_exists, profile)?;
    Ok(Some(zone))
}

/// Checks a zone the commander designates: the area exists, the profile has its level.
pub fn check_zone_order(zone: &NewZone, area_exists: bool, profile: &Profile) -> Result<(), FieldError> {
    if !area_exists {
        return Err(Refusal::ZoneAreaUnknown.error());
    }
    if !profile.allows_zone(zone.level) {
        return Err(Refusal::ZoneLevelNotInProfile.error());
    }
    Ok(())
}

// ---- movement -----------------------------------------------------------------------------

/// What a zone's rule says at a gate, before (or instead of) the colour: `None` when the
/// zone puts no rule on this movement. A resident of a zone whose rule is
/// [`Movement::StayHome`] or [`Movement::StayInCompound`] passes a checkpoint only
/// inward into the area holding their home (going back home) or with a pass valid at
/// this checkpoint now (`valid_pass`); every other scan is refused.
///
/// Checkpoints stand at compound gates and on the district border, so at a gate both
/// rules keep the resident in: they differ in what the guard is told.
pub fn movement(
    zone: Option<&ZoneExposure>,
    home: &AreaCode,
    checkpoint: &AreaCode,
    direction: Direction,
    valid_pass: bool,
    profile: &Profile,
) -> Option<Decision> {
    let z = zone?;
    let rule = profile.zones.movement(z.level);
    if rule == Movement::Free || valid_pass || (direction == Direction::In && checkpoint.contains(home)) {
        return None;
    }
    let (code, zh, en) = match rule {
        Movement::StayHome => (
            "zone_stay_home",
            format!("居住地{}为{}，足不出户，禁止外出（持有效通行证除外）", z.area_name, z.level.zh()),
            format!("lives in a {} ({}): stay at home, no going out without a pass", z.level.en(), z.area_name),
        ),
        _ => (
            "zone_stay_in_compound",
            format!("居住地{}为{}，人不出小区，禁止外出（持有效通行证除外）", z.area_name, z.level.zh()),
            format!(
                "lives in a {} ({}): stay inside the compound, no going out without a pass",
                z.level.en(),
                z.area_name
            ),
        ),
    };
    Some(Decision { pass: false, code: code.into(), zh, en })
}

/// The checkpoint's decision with the zone's movement rule applied: a colour that lets
/// the person through is overridden by a movement refusal; a refusal by colour stands.
pub fn with_movement(colour_decision: Decision, movement: Option<Decision>) -> Decision {
    match movement {
        Some(m) if colour_decision.pass => m,
        _ => colour_decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colour::{Colour, decide};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }
    fn p9() -> Profile {
        Profile::shipped("protocol-9").unwrap().unwrap()
    }
    fn m20() -> Profile {
        Profile::shipped("measures-20").unwrap().unwrap()
    }
    fn day(n: u32) -> NaiveDate {
        add_days(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(), n)
    }
    /// Local `h`:00 on day `n`.
    fn at(n: u32, h: u32) -> DateTime<Utc> {
        cst().from_local_datetime(&day(n).and_hms_opt(h, 0, 0).unwrap()).unwrap().with_timezone(&Utc)
    }
    fn building() -> AreaCode {
        AreaCode::parse("141102001001001001").unwrap()
    }
    fn zone(id: i64, level: ZoneLevel, starts: DateTime<Utc>) -> RiskZone {
        RiskZone {
            id,
            area: building(),
            level,
            reason: "r".into(),
            starts_at: starts,
            ends_at: None,
            designated_by: "c".into(),
            created_at: starts,
        }
    }
    /// A round of `n` people, the first `sampled` sampled, the first `negative` of them
    /// negative.
    fn round(n: i64, sampled: i64, negative: i64) -> ZoneRound {
        ZoneRound {
            round_id: 1,
            people: (0..n)
                .map(|i| RoundPerson {
                    resident_id: i,
                    case: false,
                    away: false,
                    exempt: false,
                    sampled: i < sampled,
                    negative: i < negative,
                })
                .collect(),
        }
    }
    fn negative_round() -> ZoneRound {
        round(40, 40, 40)
    }

    #[test]
    fn who_a_round_needs() {
        let mut r = round(4, 2, 2);
        assert!(!r.outcome().all_negative());
        // The two not sampled: a case (in hospital) and someone at a quarantine site.
        r.people[2].case = true;
        r.people[3].away = true;
        assert_eq!(r.outcome(), RoundOutcome { round_id: 1, expected: 2, sampled: 2, negative: 2 });
        assert!(r.outcome().all_negative());
        // An exemption excuses a missing sample, not a positive one.
        let mut r = round(3, 2, 1);
        r.people[2].exempt = true;
        assert_eq!(r.outcome().expected, 2);
        assert!(!r.outcome().all_negative());
        r.people[1].exempt = true;
        assert_eq!(r.outcome().expected, 2, "sampled anyway: counted");
    }
    fn facts(level: ZoneLevel, starts: DateTime<Utc>, from_high: bool) -> ZoneFacts {
        ZoneFacts {
            zone: zone(1, level, starts),
            came_from_high: from_high,
            last_infection: Some(starts - Duration::hours(2)),
            rounds: vec![negative_round()],
        }
    }

    /// The first date the clock steps the zone, trying each day in turn.
    fn first_step(f: &ZoneFacts, p: &Profile) -> Option<(u32, ZoneStep)> {
        (0..40).find_map(|n| plan_zone_day(std::slice::from_ref(f), p, day(n), cst()).steps.pop().map(|s| (n, s)))
    }

    #[test]
    fn protocol_9_high_to_medium_to_low() {
        let p = p9();
        // A case on day 0 at 15:00, the zone accepted at 18:00: days 1..7 are clear,
        // the step is at 00:00 of day 8.
        let high = facts(ZoneLevel::High, at(0, 18), false);
        let (n, step) = first_step(&high, &p).unwrap();
        assert_eq!((n, step.from, step.to, step.days), (8, ZoneLevel::High, ZoneLevel::Medium, 7));
        assert_eq!(step.at, at(8, 0));
        assert!(step.reason().contains("连续7天"));
        // The medium zone it made starts at 00:00 of day 8 and counts day 8: 3 days.
        let medium = ZoneFacts { zone: zone(2, ZoneLevel::Medium, step.at), came_from_high: true, ..high.clone() };
        let (n, step) = first_step(&medium, &p).unwrap();
        assert_eq!((n, step.to, step.days), (11, ZoneLevel::Low, 3));
        // Medium from the start: 7 days.
        let medium = facts(ZoneLevel::Medium, at(0, 18), false);
        assert_eq!(first_step(&medium, &p).unwrap().0, 8);
        // A low designation never steps.
        assert!(first_step(&facts(ZoneLevel::Low, at(0, 18), false), &p).is_none());
    }

    #[test]
    fn measures_20_high_is_lifted_after_5_days() {
        let p = m20();
        let mut high = facts(ZoneLevel::High, at(0, 18), false);
        high.rounds.clear(); // no round needed
        let (n, step) = first_step(&high, &p).unwrap();
        assert_eq!((n, step.to, step.days), (6, ZoneLevel::Low, 5));
    }

    #[test]
    fn a_new_infection_resets_the_clock() {
        for (p, days) in [(p9(), 7), (m20(), 5)] {
            let mut f = facts(ZoneLevel::High, at(0, 18), false);
            // A case on day 4 at 10:00: days 5.. count again.
            f.last_infection = Some(at(4, 10));
            let (n, step) = first_step(&f, &p).unwrap();
            assert_eq!((n, step.days), (5 + days, days), "{}", p.name);
        }
    }

    #[test]
    fn an_all_negative_round_on_the_last_day_is_required_where_the_profile_says() {
        let p = p9();
        let mut f = facts(ZoneLevel::High, at(0, 18), false);
        for rounds in [vec![], vec![round(40, 39, 39)], vec![round(40, 40, 39)]] {
            f.rounds = rounds;
            let plan = plan_zone_day(std::slice::from_ref(&f), &p, day(8), cst());
            assert!(plan.steps.is_empty(), "{:?}", f.rounds);
            assert_eq!(plan.held.len(), 1);
            let fc = forecast(std::slice::from_ref(&f), &p, day(8), cst());
            assert_eq!((fc.awaiting_round, fc.steps), (1, 0));
        }
        f.rounds = vec![round(40, 39, 39), negative_round()];
        assert_eq!(plan_zone_day(std::slice::from_ref(&f), &p, day(8), cst()).steps.len(), 1);
        // measures-20 does not ask for one.
        f.rounds.clear();
        assert_eq!(plan_zone_day(std::slice::from_ref(&f), &m20(), day(6), cst()).steps.len(), 1);
    }

    #[test]
    fn the_clock_time_of_the_profile_sets_the_instant() {
        let src = crate::policy::SHIPPED[0].1.replace("clock_time = \"00:00\"", "clock_time = \"06:30\"");
        let p = Profile::parse(&src).unwrap();
        let d = day(3);
        assert_eq!(run_instant(&p, d, cst()), at(3, 6) + Duration::minutes(30));
        assert_eq!(due_date(&p, at(3, 6), cst()), day(2));
        assert_eq!(due_date(&p, at(3, 7), cst()), day(3));
        assert_eq!(due_date(&p9(), at(3, 0), cst()), day(3));
    }

    #[test]
    fn forecast_counts_steps_and_resets() {
        let p = p9();
        let stepping = facts(ZoneLevel::High, at(0, 18), false);
        let mut reset = facts(ZoneLevel::High, at(0, 18), false);
        reset.zone.id = 2;
        reset.last_infection = Some(at(6, 9));
        let mut waiting = facts(ZoneLevel::High, at(3, 18), false);
        waiting.zone.id = 3;
        let fc = forecast(&[stepping, reset, waiting], &p, day(8), cst());
        assert_eq!((fc.steps, fc.reset_by_case, fc.awaiting_round), (1, 1, 0));
        assert_eq!(fc.zones[1].outlook, Outlook::ResetByCase { case_date: day(6), zone_day: 6 });
        assert_eq!(fc.zones[2].outlook, Outlook::Waiting);
        assert_eq!((fc.zones[2].clear_days, fc.zones[2].needed, fc.zones[2].due), (4, 7, Some(day(11))));
        assert_eq!(fc.by_level[0], (ZoneLevel::High, 3));
        let (zh, en) = fc.summary("明日", "tomorrow", cst());
        assert_eq!(zh, "明日 00:00：1个风险区降级，1个因第6天新增病例重新计时");
        assert_eq!(en, "tomorrow 00:00: 1 zone step down, 1 blocked by a case on day 6");
    }

    #[test]
    fn zones_not_yet_started_or_ended_are_left_alone() {
        let p = p9();
        let mut f = facts(ZoneLevel::High, at(9, 18), false);
        assert!(plan_zone_day(std::slice::from_ref(&f), &p, day(8), cst()).steps.is_empty());
        f = facts(ZoneLevel::High, at(0, 18), false);
        f.zone.ends_at = Some(at(5, 0));
        assert!(plan_zone_day(std::slice::from_ref(&f), &p, day(8), cst()).steps.is_empty());
        // An infection after the run's instant is not the run's business.
        f.zone.ends_at = None;
        f.last_infection = Some(at(8, 9));
        assert_eq!(plan_zone_day(std::slice::from_ref(&f), &p, day(8), cst()).steps.len(), 1);
    }

    /// What the store does with a plan: stepped zones end, medium steps start new zones.
    fn apply(zones: &[ZoneFacts], plan: &ZoneDayPlan, next_id: &mut i64) -> Vec<ZoneFacts> {
        let mut out: Vec<ZoneFacts> = Vec::new();
        for f in zones {
            match plan.steps.iter().find(|s| s.zone_id == f.zone.id) {
                None => out.push(f.clone()),
                Some(s) if s.to == ZoneLevel::Low => {}
                Some(s) => {
                    *next_id += 1;
                    out.push(ZoneFacts {
                        zone: RiskZone { id: *next_id, level: s.to, starts_at: s.at, ..f.zone.clone() },
                        came_from_high: s.from == ZoneLevel::High,
                        ..f.clone()
                    });
                }
            }
        }
        out
    }

    fn arb_zone() -> impl Strategy<Value = (u8, u32, u32, Option<u32>, bool, bool)> {
        (0u8..3, 0u32..12, 0u32..24, prop::option::of(0u32..300), any::<bool>(), any::<bool>())
    }

    proptest! {
        /// Applying a day twice changes nothing: the second plan of the same date, on the
        /// facts the first left behind, is empty; and every step lowers a level.
        #[test]
        fn a_day_applied_twice_changes_nothing(
            zones in prop::collection::vec(arb_zone(), 0..12),
            run_day in 0u32..25,
            which in 0usize..2,
        ) {
            let p = if which == 0 { p9() } else { m20() };
            let facts: Vec<ZoneFacts> = zones
                .iter()
                .enumerate()
                .filter_map(|(i, (lvl, d, h, inf, from_high, neg))| {
                    let level = [ZoneLevel::Low, ZoneLevel::Medium, ZoneLevel::High][*lvl as usize];
                    if !p.allows_zone(level) {
                        return None;
                    }
                    let starts = at(*d, *h);
                    Some(ZoneFacts {
                        zone: zone(i as i64 + 1, level, starts),
                        came_from_high: *from_high && level == ZoneLevel::Medium,
                        last_infection: inf.map(|m| starts + Duration::hours(i64::from(m))),
                        rounds: if *neg { vec![negative_round()] } else { vec![] },
                    })
                })
                .collect();
            let plan = plan_zone_day(&facts, &p, day(run_day), cst());
            for s in &plan.steps {
                prop_assert!(s.to < s.from);
                prop_assert!(s.at == run_instant(&p, day(run_day), cst()));
            }
            let mut next = 1000;
            let after = apply(&facts, &plan, &mut next);
            let again = plan_zone_day(&after, &p, day(run_day), cst());
            prop_assert!(again.steps.is_empty(), "{:?}", again.steps);
        }
    }

    #[test]
    fn proposals_follow_the_profile_levels() {
        let unit = AreaCode::parse("14110200100100100102").unwrap();
        let case = CaseHome { case_id: 7, resident_id: 70, unit: unit.clone(), at: at(0, 15) };
        let p = p9();
        let props = propose_zones(&case, &[], &[], &p, at(0, 16));
        let got: Vec<(&str, ZoneLevel)> = props.iter().map(|z| (z.area.as_str(), z.level)).collect();
        assert_eq!(got, vec![("141102001001001001", ZoneLevel::High), ("141102001001001", ZoneLevel::Medium)]);
        assert!(props[0].reason.contains("#7"));
        // measures-20: no medium zone.
        let props = propose_zones(&case, &[], &[], &m20(), at(0, 16));
        assert_eq!(props.len(), 1);
        // Already inside a high zone: the case resets its clock, nothing new is proposed.
        let mut compound = zone(3, ZoneLevel::High, at(0, 1));
        compound.area = AreaCode::parse("141102001001001").unwrap();
        assert!(propose_zones(&case, std::slice::from_ref(&compound), &[], &p, at(0, 16)).is_empty());
        // Already proposed by another case: only what is missing.
        let pending = propose_zones(&case, &[], &[], &p, at(0, 16));
        let second = CaseHome { case_id: 8, ..case.clone() };
        assert!(propose_zones(&second, &[], &pending, &p, at(0, 17)).is_empty());
        // A unit-level profile proposes the unit.
        let src = crate::policy::SHIPPED[0].1.replace("high_zone_area = \"building\"", "high_zone_area = \"unit\"");
        let unit_level = Profile::parse(&src).unwrap();
        assert_eq!(propose_zones(&case, &[], &[], &unit_level, at(0, 16))[0].area, unit);
    }

    fn proposal() -> ZoneProposal {
        let unit = AreaCode::parse("14110200100100100102").unwrap();
        let case = CaseHome { case_id: 7, resident_id: 70, unit, at: at(0, 15) };
        ZoneProposal {
            id: 1,
            proposed: propose_zones(&case, &[], &[], &p9(), at(0, 16)).remove(0),
            status: ProposalStatus::Proposed,
            decided_at: None,
            decided_by: None,
            zone_id: None,
        }
    }

    #[test]
    fn decisions_accept_widen_narrow_reject() {
        let p = p9();
        let pr = proposal();
        let now = at(0, 18);
        let z = decide_proposal(&pr, &ZoneDecision::Accept, true, &p, "cmd", now).unwrap().unwrap();
        assert_eq!((z.area.as_str(), z.level), ("141102001001001001", ZoneLevel::High));
        let compound = AreaCode::parse("141102001001001").unwrap();
        let z = decide_proposal(&pr, &ZoneDecision::Widen(compound.clone()), true, &p, "cmd", now).unwrap().unwrap();
        assert_eq!(z.area, compound);
        let unit = AreaCode::parse("14110200100100100102").unwrap();
        let z = decide_proposal(&pr, &ZoneDecision::Narrow(unit.clone()), true, &p, "cmd", now).unwrap().unwrap();
        assert_eq!(z.area, unit);
        assert_eq!(decide_proposal(&pr, &ZoneDecision::Reject, true, &p, "cmd", now).unwrap(), None);

        let other_unit = AreaCode::parse("14110200100100100101").unwrap();
        let refused =
            |d: ZoneDecision, exists: bool| decide_proposal(&pr, &d, exists, &p, "cmd", now).unwrap_err().code;
        assert_eq!(refused(ZoneDecision::Narrow(other_unit), true), "zone_narrow_area");
        assert_eq!(refused(ZoneDecision::Narrow(compound.clone()), true), "zone_narrow_area");
        assert_eq!(refused(ZoneDecision::Widen(unit), true), "zone_widen_area");
        assert_eq!(refused(ZoneDecision::Widen(AreaCode::parse("141102").unwrap()), true), "zone_area_level");
        assert_eq!(refused(ZoneDecision::Widen(compound), false), "zone_area_unknown");
        let decided = ZoneProposal { status: ProposalStatus::Accepted, ..pr.clone() };
        assert_eq!(
            decide_proposal(&decided, &ZoneDecision::Reject, true, &p, "cmd", now).unwrap_err().code,
            "zone_proposal_decided"
        );
        // A medium proposal under a profile without medium zones.
        let medium =
            ZoneProposal { proposed: ProposedZone { level: ZoneLevel::Medium, ..pr.proposed.clone() }, ..pr.clone() };
        assert_eq!(
            decide_proposal(&medium, &ZoneDecision::Accept, true, &m20(), "cmd", now).unwrap_err().code,
            "zone_level_profile"
        );
    }

    #[test]
    fn movement_at_the_gate() {
        let p = p9();
        let home = AreaCode::parse("14110200100100100102").unwrap();
        let own_gate = AreaCode::parse("141102001001001").unwrap();
        let other_gate = AreaCode::parse("141102001001002").unwrap();
        let border = AreaCode::parse("141102").unwrap();
        let exposure = |level| ZoneExposure {
            level,
            area: AreaCode::parse("141102001001001001").unwrap(),
            area_name: "3号楼".into(),
        };
        let (high, medium, low) = (exposure(ZoneLevel::High), exposure(ZoneLevel::Medium), exposure(ZoneLevel::Low));
        // (zone, checkpoint, direction, pass, expected code)
        type Case<'a> = (Option<&'a ZoneExposure>, &'a AreaCode, Direction, bool, Option<&'a str>);
        let cases: Vec<Case> = vec![
            (None, &own_gate, Direction::Out, false, None),
            (Some(&low), &own_gate, Direction::Out, false, None),
            (Some(&high), &own_gate, Direction::Out, false, Some("zone_stay_home")),
            (Some(&high), &own_gate, Direction::Out, true, None),
            (Some(&high), &own_gate, Direction::In, false, None),
            (Some(&high), &other_gate, Direction::In, false, Some("zone_stay_home")),
            (Some(&high), &border, Direction::Out, false, Some("zone_stay_home")),
            (Some(&high), &border, Direction::In, false, None),
            (Some(&medium), &own_gate, Direction::Out, false, Some("zone_stay_in_compound")),
            (Some(&medium), &own_gate, Direction::In, false, None),
            (Some(&medium), &other_gate, Direction::In, false, Some("zone_stay_in_compound")),
            (Some(&medium), &own_gate, Direction::Out, true, None),
        ];
        for (z, cp, dir, pass, want) in cases {
            let got = movement(z, &home, cp, dir, pass, &p);
            assert_eq!(got.as_ref().map(|d| d.code.as_str()), want, "{z:?} {cp:?} {dir:?} {pass}");
            if let Some(d) = got {
                assert!(!d.pass && d.zh.contains("3号楼"));
            }
        }
        // A profile whose high zones do not restrict movement.
        let src = crate::policy::SHIPPED[0].1.replace("high_movement = \"stay_home\"", "high_movement = \"free\"");
        let free = Profile::parse(&src).unwrap();
        assert_eq!(movement(Some(&high), &home, &own_gate, Direction::Out, false, &free), None);
        // The movement rule overrides a passing colour, never a refusing one.
        let refuse = movement(Some(&high), &home, &own_gate, Direction::Out, false, &p);
        let green = decide(Colour::Green, &[], false, None);
        assert_eq!(with_movement(green.clone(), refuse.clone()).code, "zone_stay_home");
        let red = decide(Colour::Red, &[], false, None);
        assert_eq!(with_movement(red, refuse).code, "red");
        assert_eq!(with_movement(green, None).code, "green");
    }
}
