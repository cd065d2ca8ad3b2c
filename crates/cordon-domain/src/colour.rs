//! The colour engine: a person's state + the active policy profile + `now` → the code's
//! colour with every reason that applies, and what a checkpoint does with it.
//!
//! Pure: no IO and no clock. The state is gathered by the store
//! (`CodesStore::person_state`); which state makes which colour is the profile's data
//! ([`crate::policy::ColourRules`]), never a constant here. Adding a risk to a state never
//! lightens the colour (property-tested below).

use crate::area::AreaCode;
use crate::policy::{Profile, Trigger};
use crate::zone::ZoneLevel;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

impl Colour {
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            Colour::Green => "绿码",
            Colour::Yellow => "黄码",
            Colour::Red => "红码",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            Colour::Green => "Green",
            Colour::Yellow => "Yellow",
            Colour::Red => "Red",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    Confirmed,
    Asymptomatic,
}

/// Ordered by severity: a close contact is a stronger risk than a secondary one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactClass {
    Secondary,
    Close,
}

/// Ordered by severity: home control (居家管控) < home quarantine < centralised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineKind {
    HomeControl,
    Home,
    Centralised,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineOrder {
    pub kind: QuarantineKind,
    /// End of the order; `None` while open-ended.
    pub until: Option<DateTime<Utc>>,
}

/// The zone a person lives in, as the colour engine needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneExposure {
    pub level: ZoneLevel,
    pub area: AreaCode,
    pub area_name: String,
}

/// Every input SPEC names for a code's colour. Gathered by the store in one call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonState {
    pub case: Option<CaseKind>,
    pub contact: Option<ContactClass>,
    /// Member of a positive pool awaiting the individual result.
    pub pool_positive_pending: bool,
    pub quarantine: Option<QuarantineOrder>,
    /// The highest active zone on the residence's lineage (none = low, the rest of the
    /// district).
    pub zone: Option<ZoneExposure>,
    /// Consecutive mandatory rounds missed up to now.
    pub missed_rounds: u32,
    /// An active exemption from mandatory testing (bedridden with door sampling, away
    /// with proof): missed rounds then do not count.
    pub exempt: bool,
}

/// What a backend reads about one resident for the colour engine (plan, then persist,
/// applied to a read): the residence, the zones open on its lineage, what mass testing
/// and tracing say of the person, and their mandatory rounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonFacts {
    pub unit: Option<AreaCode>,
    /// Designations open at `now` on the unit's lineage, each with its area's name.
    pub zones: Vec<(crate::zone::RiskZone, String)>,
    pub case: Option<CaseKind>,
    pub contact: Option<ContactClass>,
    pub pool_positive_pending: bool,
    pub quarantine: Option<QuarantineOrder>,
    /// The household is under home control (a positive pool's).
    pub home_control: bool,
    /// The mandatory rounds covering the unit up to today, newest first, down to and
    /// including the newest one the person attended (sampled or exempt): all that the
    /// count of consecutive missed rounds needs, however many rounds there are.
    pub rounds: Vec<crate::testing::RoundAttendance>,
}

impl PersonState {
    /// The colour engine's input from what was read: the highest zone on the residence's
    /// lineage, the strongest quarantine (an order, or the household's home control), and
    /// the consecutive mandatory rounds missed up to `today` (the district's date).
    pub fn from_facts(f: PersonFacts, now: DateTime<Utc>, today: chrono::NaiveDate) -> PersonState {
        let zone = f.unit.as_ref().and_then(|unit| {
            let zones: Vec<crate::zone::RiskZone> = f.zones.iter().map(|(z, _)| z.clone()).collect();
            crate::zone::zone_of(unit, &zones, now).map(|z| ZoneExposure {
                level: z.level,
                area: z.area.clone(),
                area_name: f.zones.iter().find(|(y, _)| y.id == z.id).map(|(_, n)| n.clone()).unwrap_or_default(),
            })
        });
        let control = f.home_control.then_some(QuarantineOrder { kind: QuarantineKind::HomeControl, until: None });
        let quarantine = match (f.quarantine, control) {
            (Some(q), Some(c)) => Some(if c.kind > q.kind { c } else { q }),
            (q, c) => q.or(c),
        };
        let (missed_rounds, exempt) = crate::testing::missed_rounds(&f.rounds, today);
        PersonState {
            case: f.case,
            contact: f.contact,
            pool_positive_pending: f.pool_positive_pending,
            quarantine,
            zone,
            missed_rounds,
            exempt,
        }
    }
}

/// One reason a colour applies, shown to the guard and on the resident page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The trigger's stable code (`zone_high`, `case`, …).
    pub code: String,
    pub colour: Colour,
    pub zh: String,
    pub en: String,
}

fn triggers(state: &PersonState, profile: &Profile, now: DateTime<Utc>) -> Vec<(Trigger, String, String)> {
    let mut out = Vec::new();
    if let Some(kind) = state.case {
        let (zh, en) = match kind {
            CaseKind::Confirmed => ("确诊病例", "confirmed case"),
            CaseKind::Asymptomatic => ("无症状感染者", "asymptomatic infection"),
        };
        out.push((Trigger::Case, zh.to_string(), en.to_string()));
    }
    match state.contact {
        Some(ContactClass::Close) => out.push((Trigger::CloseContact, "密切接触者".into(), "close contact".into())),
        Some(ContactClass::Secondary) => {
            out.push((Trigger::SecondaryContact, "密接的密接（次密接）".into(), "secondary contact".into()))
        }
        None => {}
    }
    if state.pool_positive_pending {
        out.push((
            Trigger::PoolPositive,
            "混管阳性，等待单采单检结果".into(),
            "positive pool, awaiting the individual result".into(),
        ));
    }
    if let Some(q) = state.quarantine.as_ref().filter(|q| q.until.is_none_or(|u| u > now)) {
        match q.kind {
            QuarantineKind::Centralised => {
                out.push((Trigger::CentralisedQuarantine, "集中隔离中".into(), "in centralised quarantine".into()))
            }
            QuarantineKind::Home => {
                out.push((Trigger::HomeQuarantine, "居家隔离中".into(), "in home quarantine".into()))
            }
            QuarantineKind::HomeControl => {
                out.push((Trigger::HomeQuarantine, "居家管控中".into(), "under home control".into()))
            }
        }
    }
    if let Some(z) = &state.zone {
        let t = match z.level {
            ZoneLevel::High => Some(Trigger::ZoneHigh),
            ZoneLevel::Medium => Some(Trigger::ZoneMedium),
            ZoneLevel::Low => None,
        };
        if let Some(t) = t {
            out.push((
                t,
                format!("居住地{}为{}", z.area_name, z.level.zh()),
                format!("lives in a {} ({})", z.level.en(), z.area_name),
            ));
        }
    }
    if !state.exempt && state.missed_rounds >= profile.colours.missed_rounds_for_yellow {
        out.push((
            Trigger::MissedRound,
            format!("未参加最近{}轮全员核酸检测", state.missed_rounds),
            format!("missed the last {} mandatory testing round(s)", state.missed_rounds),
        ));
    }
    out
}

/// The colour of a person's code now, with every reason that applies (worst first).
/// Green has no reasons.
pub fn colour(state: &PersonState, profile: &Profile, now: DateTime<Utc>) -> (Colour, Vec<Reason>) {
    let mut reasons: Vec<Reason> = triggers(state, profile, now)
        .into_iter()
        .filter_map(|(t, zh, en)| {
            profile.colour_of(t).map(|c| Reason { code: t.code().to_string(), colour: c, zh, en })
        })
        .collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.colour));
    let c = reasons.first().map_or(Colour::Green, |r| r.colour);
    (c, reasons)
}

/// Which way a person goes through a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn parse(s: &str) -> Direction {
        if s.trim().eq_ignore_ascii_case("out") { Direction::Out } else { Direction::In }
    }
    /// A direction as a device or a form sends it: `in` or `out` (nothing: `in`);
    /// anything else is refused rather than taken as `in`.
    pub fn parse_strict(s: &str) -> Result<Direction, crate::FieldError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            _ => Err(crate::FieldError::new(
                "direction_invalid",
                "direction",
                "方向应为 in（进）或 out（出）",
                "direction must be in or out",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// A checkpoint's decision and where to send someone who is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub pass: bool,
    /// Stable code: `green`, `pass_holder`, `yellow`, `red`, or a token/pass problem.
    pub code: String,
    pub zh: String,
    pub en: String,
}

/// The checkpoint decision table for a valid health code. A red code is always refused
/// (stay put, the community and the transfer team are called); a yellow code is refused
/// and sent to test, unless the person holds a pass valid here now (essential workers
/// whose yellow comes from where they live, not from an infection risk of their own);
/// green passes. `sampling_site` names the nearest open sampling site for the refusal.
pub fn decide(colour: Colour, reasons: &[Reason], valid_pass: bool, sampling_site: Option<&str>) -> Decision {
    let personal_risk = reasons.iter().any(|r| !r.code.starts_with("zone_"));
    match colour {
        Colour::Green => {
            Decision { pass: true, code: "green".into(), zh: "绿码，放行".into(), en: "green code: pass".into() }
        }
        Colour::Yellow if valid_pass && !personal_risk => Decision {
            pass: true,
            code: "pass_holder".into(),
            zh: "持有效通行证，放行".into(),
            en: "valid pass: let through".into(),
        },
        Colour::Yellow => {
            let (zh, en) = match sampling_site {
                Some(s) => (
                    format!("黄码，禁止通行。请前往最近的核酸采样点：{s}"),
                    format!("yellow code: refused. Go to the nearest sampling site: {s}"),
                ),
                None => (
                    "黄码，禁止通行。请前往最近的核酸采样点检测".to_string(),
                    "yellow code: refused. Go to the nearest sampling site for a test".to_string(),
                ),
            };
            Decision { pass: false, code: "yellow".into(), zh, en }
        }
        Colour::Red => Decision {
            pass: false,
            code: "red".into(),
            zh: "红码，禁止通行。请原地等候，立即报告社区和转运专班".into(),
            en: "red code: refused. Keep the person here and call the community and the transfer team".into(),
        },
    }
}

/// What to tell a person whose code is not green, from the profile's instructions for
/// their worst reason (`reasons` as [`colour`] orders them): home control is told apart
/// from home quarantine, a zone goes by its movement rule, `{site}` and `{zone}` are filled.
/// `None` for a code without reasons.
pub fn instruction(
    state: &PersonState,
    reasons: &[Reason],
    profile: &Profile,
    sampling_site: Option<&str>,
) -> Option<(String, crate::policy::Instruction)> {
    use crate::policy::Movement;
    let first = reasons.first()?;
    let i = &profile.instructions;
    let (key, found) = match first.code.as_str() {
        "case" => ("case", &i.case),
        "close_contact" => ("close_contact", &i.close_contact),
        "secondary_contact" => ("secondary_contact", &i.secondary_contact),
        "pool_positive" => ("pool_positive", &i.pool_positive),
        "centralised_quarantine" => ("centralised_quarantine", &i.centralised_quarantine),
        "home_quarantine" => match state.quarantine.as_ref().map(|q| q.kind) {
            Some(QuarantineKind::HomeControl) => ("home_control", &i.home_control),
            _ => ("home_quarantine", &i.home_quarantine),
        },
        "zone_high" | "zone_medium" => {
            let level = if first.code == "zone_high" { ZoneLevel::High } else { ZoneLevel::Medium };
            match profile.zones.movement(level) {
                Movement::StayHome => ("zone_stay_home", &i.zone_stay_home),
                Movement::StayInCompound => ("zone_stay_in_compound", &i.zone_stay_in_compound),
                Movement::Free => ("zone_free", &i.zone_free),
            }
        }
        _ => ("missed_round", &i.missed_round),
    };
    let zone = state.zone.as_ref().map(|z| z.area_name.as_str()).unwrap_or("");
    let (site_zh, site_en) = match sampling_site {
        Some(s) => (s, s),
        None => ("就近核酸采样点", "the nearest sampling site"),
    };
    let fill = |t: &str, site: &str| t.replace("{site}", site).replace("{zone}", zone);
    let mut out = found.clone();
    out.zh = fill(&found.zh, site_zh);
    out.en = fill(&found.en, site_en);
    Some((key.to_string(), out))
}

/// The checkpoint decision ([`decide`]) with what to do next taken from the profile's
/// instruction for the person's worst reason.
pub fn decide_with(
    colour: Colour,
    reasons: &[Reason],
    state: &PersonState,
    valid_pass: bool,
    sampling_site: Option<&str>,
    profile: &Profile,
) -> Decision {
    let d = decide(colour, reasons, valid_pass, sampling_site);
    if d.pass {
        return d;
    }
    match instruction(state, reasons, profile, sampling_site) {
        Some((_, i)) => Decision {
            zh: format!("{}，禁止通行。{}", colour.zh(), i.zh),
            en: format!("{} code: refused. {}", colour.en(), capitalise(&i.en)),
            ..d
        },
        None => d,
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Profile;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 4, 10, 6, 0, 0).unwrap()
    }

    fn zone(level: ZoneLevel) -> Option<ZoneExposure> {
        Some(ZoneExposure { level, area: AreaCode::parse("141102001001001001").unwrap(), area_name: "3号楼".into() })
    }

    fn quarantine(kind: QuarantineKind) -> Option<QuarantineOrder> {
        Some(QuarantineOrder { kind, until: None })
    }

    /// (description, state, protocol-9 colour, measures-20 colour, expected first reason)
    fn table() -> Vec<(&'static str, PersonState, Colour, Colour, Option<&'static str>)> {
        use Colour::*;
        let s = PersonState::default;
        vec![
            ("nothing", s(), Green, Green, None),
            ("confirmed case", PersonState { case: Some(CaseKind::Confirmed), ..s() }, Red, Red, Some("case")),
            ("asymptomatic", PersonState { case: Some(CaseKind::Asymptomatic), ..s() }, Red, Red, Some("case")),
            (
                "close contact in quarantine",
                PersonState {
                    contact: Some(ContactClass::Close),
                    quarantine: quarantine(QuarantineKind::Centralised),
                    ..s()
                },
                Red,
                Red,
                Some("close_contact"),
            ),
            (
                "secondary contact",
                PersonState { contact: Some(ContactClass::Secondary), ..s() },
                Yellow,
                Green,
                Some("secondary_contact"),
            ),
            (
                "pool positive",
                PersonState { pool_positive_pending: true, ..s() },
                Yellow,
                Yellow,
                Some("pool_positive"),
            ),
            ("high zone", PersonState { zone: zone(ZoneLevel::High), ..s() }, Yellow, Yellow, Some("zone_high")),
            ("medium zone", PersonState { zone: zone(ZoneLevel::Medium), ..s() }, Yellow, Green, Some("zone_medium")),
            ("low zone", PersonState { zone: zone(ZoneLevel::Low), ..s() }, Green, Green, None),
            (
                "home quarantine",
                PersonState { quarantine: quarantine(QuarantineKind::Home), ..s() },
                Yellow,
                Yellow,
                Some("home_quarantine"),
            ),
            (
                "home control",
                PersonState { quarantine: quarantine(QuarantineKind::HomeControl), ..s() },
                Yellow,
                Yellow,
                Some("home_quarantine"),
            ),
            (
                "quarantine ended",
                PersonState {
                    quarantine: Some(QuarantineOrder {
                        kind: QuarantineKind::Home,
                        until: Some(now() - chrono::Duration::hours(1)),
                    }),
                    ..s()
                },
                Green,
                Green,
                None,
            ),
            ("missed a round", PersonState { missed_rounds: 1, ..s() }, Yellow, Yellow, Some("missed_round")),
            ("missed a round, exempt", PersonState { missed_rounds: 3, exempt: true, ..s() }, Green, Green, None),
            (
                "case in a high zone",
                PersonState { case: Some(CaseKind::Confirmed), zone: zone(ZoneLevel::High), ..s() },
                Red,
                Red,
                Some("case"),
            ),
        ]
    }

    #[test]
    fn colour_rules_per_profile() {
        let p9 = Profile::shipped("protocol-9").unwrap().unwrap();
        let m20 = Profile::shipped("measures-20").unwrap().unwrap();
        for (what, state, c9, c20, first) in table() {
            let (c, reasons) = colour(&state, &p9, now());
            assert_eq!(c, c9, "protocol-9: {what}");
            assert_eq!(reasons.first().map(|r| r.code.as_str()), first, "protocol-9 reason: {what}");
            assert_eq!(colour(&state, &m20, now()).0, c20, "measures-20: {what}");
            if c == Colour::Green {
                assert!(reasons.is_empty(), "{what}");
            }
        }
    }

    #[test]
    fn every_reason_is_listed_worst_first() {
        let p9 = Profile::shipped("protocol-9").unwrap().unwrap();
        let state = PersonState {
            contact: Some(ContactClass::Close),
            zone: zone(ZoneLevel::High),
            missed_rounds: 2,
            ..Default::default()
        };
        let (c, reasons) = colour(&state, &p9, now());
        assert_eq!(c, Colour::Red);
        let codes: Vec<_> = reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, vec!["close_contact", "zone_high", "missed_round"]);
        assert!(reasons[1].zh.contains("3号楼") && reasons[1].zh.contains("高风险区"));
    }

    #[test]
    fn checkpoint_decision_table() {
        let p9 = Profile::shipped("protocol-9").unwrap().unwrap();
        let zone_only = colour(&PersonState { zone: zone(ZoneLevel::High), ..Default::default() }, &p9, now()).1;
        let pool = colour(&PersonState { pool_positive_pending: true, ..Default::default() }, &p9, now()).1;
        let red = colour(&PersonState { case: Some(CaseKind::Confirmed), ..Default::default() }, &p9, now()).1;
        // (colour, reasons, valid pass, expected pass, expected code)
        let cases: Vec<(Colour, &[Reason], bool, bool, &str)> = vec![
            (Colour::Green, &[], false, true, "green"),
            (Colour::Green, &[], true, true, "green"),
            (Colour::Yellow, &zone_only, false, false, "yellow"),
            (Colour::Yellow, &zone_only, true, true, "pass_holder"),
            (Colour::Yellow, &pool, true, false, "yellow"),
            (Colour::Red, &red, true, false, "red"),
            (Colour::Red, &red, false, false, "red"),
        ];
        for (c, reasons, valid_pass, pass, code) in cases {
            let d = decide(c, reasons, valid_pass, Some("凤山社区采样点"));
            assert_eq!((d.pass, d.code.as_str()), (pass, code), "{c:?} pass={valid_pass}");
        }
        assert!(decide(Colour::Yellow, &pool, false, Some("凤山社区采样点")).zh.contains("凤山社区采样点"));
    }

    fn arb_state() -> impl Strategy<Value = PersonState> {
        (
            prop::option::of(prop_oneof![Just(CaseKind::Confirmed), Just(CaseKind::Asymptomatic)]),
            prop::option::of(prop_oneof![Just(ContactClass::Secondary), Just(ContactClass::Close)]),
            any::<bool>(),
            prop::option::of(prop_oneof![
                Just(QuarantineKind::HomeControl),
                Just(QuarantineKind::Home),
                Just(QuarantineKind::Centralised)
            ]),
            prop::option::of(prop_oneof![Just(ZoneLevel::Low), Just(ZoneLevel::Medium), Just(ZoneLevel::High)]),
            0u32..4,
            any::<bool>(),
        )
            .prop_map(|(case, contact, pool, q, z, missed, exempt)| PersonState {
                case,
                contact,
                pool_positive_pending: pool,
                quarantine: q.map(|kind| QuarantineOrder { kind, until: None }),
                zone: z.and_then(zone),
                missed_rounds: missed,
                exempt,
            })
    }

    /// Every way of making a state riskier by one step.
    fn add_risk(s: &PersonState, which: u8) -> PersonState {
        let mut t = s.clone();
        match which % 7 {
            0 => t.case = Some(s.case.unwrap_or(CaseKind::Asymptomatic)),
            1 => t.contact = Some(ContactClass::Close.max(s.contact.unwrap_or(ContactClass::Secondary))),
            2 => t.pool_positive_pending = true,
            3 => {
                let k = s.quarantine.as_ref().map_or(QuarantineKind::HomeControl, |q| q.kind.max(QuarantineKind::Home));
                t.quarantine = Some(QuarantineOrder { kind: k, until: None })
            }
            4 => {
                let l = s.zone.as_ref().map_or(ZoneLevel::Medium, |z| z.level.max(ZoneLevel::Medium));
                t.zone = zone(if l == ZoneLevel::Medium && s.zone.is_some() { ZoneLevel::High } else { l });
            }
            5 => t.missed_rounds += 1,
            _ => t.exempt = false,
        }
        t
    }

    proptest! {
        #[test]
        fn adding_a_risk_never_lightens_a_colour(s in arb_state(), which in 0u8..7) {
            for (name, _) in crate::policy::SHIPPED {
                let p = Profile::shipped(name).unwrap().unwrap();
                let before = colour(&s, &p, now()).0;
                let after = colour(&add_risk(&s, which), &p, now()).0;
                prop_assert!(after >= before, "{name}: {s:?} + risk {which} went {before:?} -> {after:?}");
            }
        }
    }

    #[test]
    fn the_instruction_follows_the_worst_reason_from_the_profile() {
        let p9 = Profile::shipped("protocol-9").unwrap().unwrap();
        let with = |state: PersonState| {
            let (c, reasons) = colour(&state, &p9, now());
            let d = decide_with(c, &reasons, &state, false, Some("一号采样点"), &p9);
            let i = instruction(&state, &reasons, &p9, Some("一号采样点"));
            (d, i)
        };
        let (d, i) = with(PersonState { quarantine: quarantine(QuarantineKind::HomeControl), ..Default::default() });
        let (key, i) = i.unwrap();
        assert_eq!((key.as_str(), i.stay_home), ("home_control", true));
        assert!(!d.pass && d.zh.contains(&p9.instructions.home_control.zh), "{d:?}");
        let (_, i) = with(PersonState { quarantine: quarantine(QuarantineKind::Home), ..Default::default() });
        assert_eq!(i.unwrap().0, "home_quarantine");
        let (d, i) = with(PersonState { pool_positive_pending: true, ..Default::default() });
        assert_eq!(i.unwrap().0, "pool_positive");
        assert!(d.zh.contains("单管复采") && d.en.contains("re-sample"), "{d:?}");
        let (d, i) = with(PersonState { missed_rounds: 3, ..Default::default() });
        let (key, i) = i.unwrap();
        assert_eq!((key.as_str(), i.stay_home), ("missed_round", false));
        assert!(d.zh.contains("一号采样点") && d.en.contains("一号采样点"), "{d:?}");
        let (d, i) = with(PersonState { zone: zone(ZoneLevel::High), ..Default::default() });
        assert_eq!(i.unwrap().0, "zone_stay_home", "protocol-9's high zone: stay at home");
        assert!(d.zh.contains("3号楼") && !d.zh.contains("{zone}"), "{d:?}");
        let (_, i) = with(PersonState { zone: zone(ZoneLevel::Medium), ..Default::default() });
        assert_eq!(i.unwrap().0, "zone_stay_in_compound");
        // Green: no instruction, and the decision is unchanged.
        let (d, i) = with(PersonState::default());
        assert!(d.pass && i.is_none());
    }
}
