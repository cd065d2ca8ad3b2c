//! Policy profiles: the rules of a district's response (code colours, quarantine regimes
//! and their test days, zone clocks, pool sizes, token lifetime) as data, in TOML.
//!
//! Owns the profile format, its parsing (a malformed file is rejected with the line and
//! the reason) and the two profiles Cordon ships, embedded so the binary carries them.
//! Must never read files or the clock: callers hand in the text and `now`.

use crate::area::AreaLevel;
use crate::error::FieldError;
use crate::zone::ZoneLevel;
use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

/// The default profile's name.
pub const DEFAULT_PROFILE: &str = "protocol-9";

/// The profiles shipped in the binary: (name, TOML source).
pub const SHIPPED: &[(&str, &str)] = &[
    ("protocol-9", include_str!("../../../policies/protocol-9.toml")),
    ("measures-20", include_str!("../../../policies/measures-20.toml")),
];

/// What can put a colour on a code. A profile lists which of these make a code red and
/// which make it yellow; anything not listed has no effect on the colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A confirmed or asymptomatic case.
    Case,
    /// A close contact (密接).
    CloseContact,
    /// A secondary contact (次密接).
    SecondaryContact,
    /// Member of a positive pool awaiting the individual result.
    PoolPositive,
    /// Under a centralised quarantine order that no contact class explains.
    CentralisedQuarantine,
    /// Under home quarantine or home control (居家隔离/居家管控).
    HomeQuarantine,
    /// Lives in a high-risk zone.
    ZoneHigh,
    /// Lives in a medium-risk zone.
    ZoneMedium,
    /// Missed the last mandatory testing round(s), without an exemption.
    MissedRound,
}

impl Trigger {
    pub const ALL: [Trigger; 9] = [
        Trigger::Case,
        Trigger::CloseContact,
        Trigger::SecondaryContact,
        Trigger::PoolPositive,
        Trigger::CentralisedQuarantine,
        Trigger::HomeQuarantine,
        Trigger::ZoneHigh,
        Trigger::ZoneMedium,
        Trigger::MissedRound,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Trigger::Case => "case",
            Trigger::CloseContact => "close_contact",
            Trigger::SecondaryContact => "secondary_contact",
            Trigger::PoolPositive => "pool_positive",
            Trigger::CentralisedQuarantine => "centralised_quarantine",
            Trigger::HomeQuarantine => "home_quarantine",
            Trigger::ZoneHigh => "zone_high",
            Trigger::ZoneMedium => "zone_medium",
            Trigger::MissedRound => "missed_round",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColourRules {
    pub red: Vec<Trigger>,
    pub yellow: Vec<Trigger>,
    /// Mandatory rounds missed (without exemption) that trigger [`Trigger::MissedRound`].
    pub missed_rounds_for_yellow: u32,
}

/// A quarantine regime: centralised days then home days, each with its test days
/// (1-based days of that phase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regime {
    pub centralised_days: u32,
    pub centralised_test_days: Vec<u32>,
    pub home_days: u32,
    pub home_test_days: Vec<u32>,
}

/// Zone clocks: days without a new infection before a zone steps down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneRules {
    /// Whether medium-risk zones exist at all under this profile.
    pub medium_zones: bool,
    pub high_clear_days: u32,
    /// Where a high zone goes after `high_clear_days`: `medium` or `low`.
    pub high_steps_to: ZoneLevel,
    /// A medium zone that came down from high: more days before low.
    #[serde(default)]
    pub medium_after_high_clear_days: Option<u32>,
    /// A medium zone from the start: days before low.
    #[serde(default)]
    pub medium_clear_days: Option<u32>,
    /// The level of the area tree a new case's high-risk zone covers (`unit` or
    /// `building`: 划小单元).
    pub high_zone_area: AreaLevel,
    /// The level of the medium-risk zone proposed around it (`compound` or `community`);
    /// required when medium zones exist.
    #[serde(default)]
    pub medium_zone_area: Option<AreaLevel>,
    /// Time of day (district time, `HH:MM`) at which the zone clock applies the day's steps.
    pub clock_time: String,
    /// A high zone steps down only after a round in which everyone in it tested negative
    /// on its last clear day.
    pub high_needs_negative_round: bool,
    /// The same for a medium zone; required when medium zones exist.
    #[serde(default)]
    pub medium_needs_negative_round: Option<bool>,
    /// What a high zone's gate does with its residents.
    pub high_movement: Movement,
    /// What a medium zone's gate does with its residents; required when medium zones exist.
    #[serde(default)]
    pub medium_movement: Option<Movement>,
}

/// What a zone does to its residents' movement at a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// 足不出户: no resident leaves without a pass.
    StayHome,
    /// 足不出小区: residents stay inside their compound unless they hold a pass.
    StayInCompound,
    /// No rule on movement beyond the code's colour.
    Free,
}

/// Who may share a quarantine room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomSharing {
    /// One person per room (单人单间).
    Single,
    /// Only members of one household share a room.
    Household,
    /// Anyone of the same category may share a room.
    Category,
}

/// A temperature in tenths of a degree Celsius, written in a profile as a decimal
/// (`37.3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Celsius(u16);

impl Celsius {
    /// From tenths of a degree (`373` is 37.3 °C).
    pub fn from_tenths(t: u16) -> Celsius {
        Celsius(t)
    }
    pub fn tenths(self) -> u16 {
        self.0
    }
}

impl TryFrom<f64> for Celsius {
    type Error = String;
    fn try_from(v: f64) -> Result<Celsius, String> {
        if !(30.0..=45.0).contains(&v) {
            return Err(format!("{v} is not a body temperature in °C (30 to 45)"));
        }
        Ok(Celsius((v * 10.0).round() as u16))
    }
}

impl From<Celsius> for f64 {
    fn from(c: Celsius) -> f64 {
        f64::from(c.0) / 10.0
    }
}

impl std::fmt::Display for Celsius {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}

/// Quarantine sites, rooms, health checks and the time-to-quarantine target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRules {
    pub room_sharing: RoomSharing,
    /// Keep a household in one room (or, when it cannot share, on one floor of one site).
    pub household_together: bool,
    /// Categories are kept apart on a floor as well as in a room.
    pub separate_floors: bool,
    /// From this temperature a health check is a fever.
    pub fever_celsius: Celsius,
    /// Health checks (temperature, symptoms) expected per person and day.
    pub health_checks_per_day: u32,
    /// The target from identification of a contact to quarantine, in hours (the KPI's
    /// "within 24 h").
    pub within_hours: u32,
}

/// Closed-loop transfer (点对点闭环).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRules {
    /// Households one vehicle may carry together.
    pub households_per_vehicle: u32,
    /// Whether people of different categories may share a vehicle.
    pub mix_categories: bool,
    /// Picked up and not arrived after this many minutes is an alert.
    pub alert_after_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestingRules {
    /// Capacity of a pooled tube when the sampler does not choose one.
    pub pool_size: u32,
    /// Capacities a tube may be opened with (1 = a single tube).
    pub pool_sizes: Vec<u32>,
    /// Residents this old or older are sampled at the door and get a printed code card.
    pub elderly_age: u32,
    /// Recent rounds whose positivity the pool-size advisor weighs.
    pub advisor_rounds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassRules {
    /// Longest validity of a pass, in days: a pass is renewed, not issued for ever.
    pub longest_days: u32,
}

/// Case investigation (流调): the look-back window, how contacts are proposed, and the
/// tracer's deadlines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracingRules {
    /// The trajectory and the contacts go back this many days before onset (or the first
    /// positive sample when there is no onset).
    pub lookback_days: u32,
    /// Two people at one venue or checkpoint within this many minutes are co-present
    /// (时空伴随).
    pub copresence_minutes: u32,
    /// Residents of the case's unit (same stairwell) are proposed.
    pub same_unit: bool,
    /// A confirmed close contact's household is proposed as secondary contacts (the
    /// profile must then have a `[secondary_contact]` regime).
    pub contacts_of_contacts: bool,
    /// The class each kind of candidate is proposed as: "close", "secondary" or "general".
    pub household_class: crate::tracing::Class,
    pub pool_mate_class: crate::tracing::Class,
    pub same_unit_class: crate::tracing::Class,
    pub copresence_class: crate::tracing::Class,
    /// Core information (核心信息) is due this many hours after the case is created.
    pub core_info_hours: u32,
    /// The full investigation report (流调报告) is due this many hours after the case.
    pub report_hours: u32,
    /// Confirmed contacts are due to be notified within this many hours.
    pub notify_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRules {
    pub token_valid_days: u32,
}

/// What a guard or a venue tells someone turned away, by the reason of their code: the
/// text in both languages (`{site}`: the nearest open sampling site; `{zone}`: the zone's
/// area) and whether the reason keeps them at home (a venue then refuses the check-in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instruction {
    pub zh: String,
    pub en: String,
    pub stay_home: bool,
}

/// The instruction of each reason (SPEC §4: the decision follows the reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instructions {
    pub case: Instruction,
    pub close_contact: Instruction,
    pub secondary_contact: Instruction,
    pub pool_positive: Instruction,
    pub centralised_quarantine: Instruction,
    pub home_quarantine: Instruction,
    /// 居家管控 (a positive pool's household), told apart from home quarantine.
    pub home_control: Instruction,
    /// A risk zone, by its movement rule.
    pub zone_stay_home: Instruction,
    pub zone_stay_in_compound: Instruction,
    pub zone_free: Instruction,
    pub missed_round: Instruction,
}

impl Instructions {
    fn all(&self) -> [(&'static str, &Instruction); 11] {
        [
            ("case", &self.case),
            ("close_contact", &self.close_contact),
            ("secondary_contact", &self.secondary_contact),
            ("pool_positive", &self.pool_positive),
            ("centralised_quarantine", &self.centralised_quarantine),
            ("home_quarantine", &self.home_quarantine),
            ("home_control", &self.home_control),
            ("zone_stay_home", &self.zone_stay_home),
            ("zone_stay_in_compound", &self.zone_stay_in_compound),
            ("zone_free", &self.zone_free),
            ("missed_round", &self.missed_round),
        ]
    }
}

/// A parsed, checked policy profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub title_zh: String,
    pub title_en: String,
    pub colours: ColourRules,
    pub close_contact: Regime,
    /// `None`: the profile does not trace secondary contacts.
    #[serde(default)]
    pub secondary_contact: Option<Regime>,
    /// Arrivals from risk areas that the commander orders into quarantine.
    pub arrival: Regime,
    pub zones: ZoneRules,
    pub quarantine: QuarantineRules,
    pub transfer: TransferRules,
    pub testing: TestingRules,
    pub codes: CodeRules,
    pub passes: PassRules,
    /// Login throttling and how far device clocks are trusted (defaults when absent).
    #[serde(default)]
    pub security: crate::security::SecurityRules,
    pub tracing: TracingRules,
    pub instructions: Instructions,
}

/// Why a profile was rejected: the 1-based line and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ProfileError {
    pub line: usize,
    pub reason: String,
}

impl ProfileError {
    pub fn field_error(&self) -> FieldError {
        FieldError::new(
            "policy_invalid",
            "policy",
            format!("策略文件第{}行有误：{}", self.line, self.reason),
            format!("policy file, line {}: {}", self.line, self.reason),
        )
    }
}

fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset.min(src.len())).map_or(1, |s| s.matches('\n').count() + 1)
}

/// The line where `key` is assigned (`key =` at the start of a line) inside the table
/// `[table]` (or at top level when `table` is empty), for errors the parser cannot place.
fn line_of_key(src: &str, table: &str, key: &str) -> usize {
    let mut in_table = table.is_empty();
    let mut table_line = 1;
    for (i, raw) in src.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            in_table = line.trim_matches(|c| c == '[' || c == ']').trim() == table;
            if in_table {
                table_line = i + 1;
            }
            continue;
        }
        if in_table && (key.is_empty() || line.split('=').next().is_some_and(|k| k.trim() == key)) {
            return if key.is_empty() { table_line } else { i + 1 };
        }
    }
    table_line
}

impl ZoneRules {
    /// [`ZoneRules::clock_time`] as a time of day; `None` when it is not `HH:MM`.
    pub fn clock_time(&self) -> Option<NaiveTime> {
        let (h, m) = self.clock_time.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
    }

    /// The area tree level of the zone a new case proposes at `level`.
    pub fn proposed_area(&self, level: ZoneLevel) -> Option<AreaLevel> {
        match level {
            ZoneLevel::High => Some(self.high_zone_area),
            ZoneLevel::Medium if self.medium_zones => self.medium_zone_area,
            _ => None,
        }
    }

    /// Whether a zone of `level` needs an all-negative round on its last clear day.
    pub fn needs_negative_round(&self, level: ZoneLevel) -> bool {
        match level {
            ZoneLevel::High => self.high_needs_negative_round,
            ZoneLevel::Medium => self.medium_needs_negative_round.unwrap_or(false),
            ZoneLevel::Low => false,
        }
    }

    /// The movement rule of a zone of `level`.
    pub fn movement(&self, level: ZoneLevel) -> Movement {
        match level {
            ZoneLevel::High => self.high_movement,
            ZoneLevel::Medium => self.medium_movement.unwrap_or(Movement::Free),
            ZoneLevel::Low => Movement::Free,
        }
    }
}

impl Profile {
    /// Parses and checks a profile. Syntax and type errors carry the parser's position;
    /// rule errors (a zero, a contradiction) the line of the offending key.
    pub fn parse(src: &str) -> Result<Profile, ProfileError> {
        let p: Profile = toml::from_str(src).map_err(|e| ProfileError {
            line: e.span().map_or(1, |s| line_of(src, s.start)),
            reason: e.message().trim().to_string(),
        })?;
        p.check(src)?;
        Ok(p)
    }

    fn check(&self, src: &str) -> Result<(), ProfileError> {
        let err =
            |table: &str, key: &str, reason: String| Err(ProfileError { line: line_of_key(src, table, key), reason });
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return err("", "name", "name must be 1 to 64 characters".into());
        }
        let c = &self.colours;
        if let Some(t) = c.red.iter().find(|t| c.yellow.contains(t)) {
            return err("colours", "yellow", format!("trigger `{}` is listed as both red and yellow", t.code()));
        }
        // Orders of severity the colour engine relies on: adding a risk must never lighten
        // a code, so a stronger form of a risk may not map to a lighter colour.
        let rank = |t: Trigger| {
            if c.red.contains(&t) {
                2
            } else if c.yellow.contains(&t) {
                1
            } else {
                0
            }
        };
        for (stronger, weaker) in [
            (Trigger::CloseContact, Trigger::SecondaryContact),
            (Trigger::ZoneHigh, Trigger::ZoneMedium),
            (Trigger::Case, Trigger::CloseContact),
        ] {
            if rank(stronger) < rank(weaker) {
                return err(
                    "colours",
                    "red",
                    format!("`{}` must be at least as severe as `{}`", stronger.code(), weaker.code()),
                );
            }
        }
        if c.missed_rounds_for_yellow == 0 {
            return err("colours", "missed_rounds_for_yellow", "must be at least 1".into());
        }
        if self.secondary_contact.is_none() && rank(Trigger::SecondaryContact) > 0 {
            return err(
                "colours",
                "yellow",
                "secondary contacts are coloured but the profile has no [secondary_contact] regime".into(),
            );
        }
        if !self.zones.medium_zones && rank(Trigger::ZoneMedium) > 0 {
            return err("colours", "yellow", "medium zones are coloured but zones.medium_zones is false".into());
        }
        for (table, r) in [
            ("close_contact", Some(&self.close_contact)),
            ("secondary_contact", self.secondary_contact.as_ref()),
            ("arrival", Some(&self.arrival)),
        ] {
            let Some(r) = r else { continue };
            if r.centralised_days + r.home_days == 0 {
                return err(table, "", "a regime needs at least one day of quarantine".into());
            }
            if let Some(d) = r.centralised_test_days.iter().find(|d| **d == 0 || **d > r.centralised_days) {
                return err(
                    table,
                    "centralised_test_days",
                    format!("test day {d} is outside 1..={}", r.centralised_days),
                );
            }
            if let Some(d) = r.home_test_days.iter().find(|d| **d == 0 || **d > r.home_days) {
                return err(table, "home_test_days", format!("test day {d} is outside 1..={}", r.home_days));
            }
        }
        for (key, i) in self.instructions.all() {
            let bad = |t: &str| t.trim().is_empty() || t.chars().count() > 200;
            if bad(&i.zh) || bad(&i.en) {
                return err("instructions", key, "an instruction needs zh and en, each 1 to 200 characters".into());
            }
        }
        let z = &self.zones;
        if z.high_clear_days == 0 {
            return err("zones", "high_clear_days", "must be at least 1".into());
        }
        match (z.medium_zones, z.high_steps_to) {
            (_, ZoneLevel::High) => {
                return err("zones", "high_steps_to", "a high zone must step down to medium or low".into());
            }
            (false, ZoneLevel::Medium) => {
                return err(
                    "zones",
                    "high_steps_to",
                    "medium zones are disabled, so high must step down to low".into(),
                );
            }
            (true, _) if z.medium_clear_days.is_none_or(|d| d == 0) => {
                return err("zones", "medium_clear_days", "required (at least 1) when medium zones exist".into());
            }
            (true, ZoneLevel::Medium) if z.medium_after_high_clear_days.is_none_or(|d| d == 0) => {
                return err(
                    "zones",
                    "medium_after_high_clear_days",
                    "required (at least 1) when high steps down to medium".into(),
                );
            }
            _ => {}
        }
        if !matches!(z.high_zone_area, AreaLevel::Unit | AreaLevel::Building) {
            return err("zones", "high_zone_area", "a high zone covers a `unit` or a `building`".into());
        }
        if z.clock_time().is_none() {
            return err("zones", "clock_time", "a time of day as HH:MM (00:00 to 23:59)".into());
        }
        if z.medium_zones {
            match z.medium_zone_area {
                Some(AreaLevel::Compound | AreaLevel::Community) => {}
                _ => {
                    return err(
                        "zones",
                        "medium_zone_area",
                        "required when medium zones exist: `compound` or `community`".into(),
                    );
                }
            }
            if z.medium_needs_negative_round.is_none() {
                return err("zones", "medium_needs_negative_round", "required when medium zones exist".into());
            }
            if z.medium_movement.is_none() {
                return err("zones", "medium_movement", "required when medium zones exist".into());
            }
        } else {
            for (key, set) in [
                ("medium_zone_area", z.medium_zone_area.is_some()),
                ("medium_needs_negative_round", z.medium_needs_negative_round.is_some()),
                ("medium_movement", z.medium_movement.is_some()),
                ("medium_clear_days", z.medium_clear_days.is_some()),
                ("medium_after_high_clear_days", z.medium_after_high_clear_days.is_some()),
            ] {
                if set {
                    return err("zones", key, "medium zones are disabled (medium_zones = false)".into());
                }
            }
        }
        let q = &self.quarantine;
        if q.health_checks_per_day == 0 || q.health_checks_per_day > 24 {
            return err("quarantine", "health_checks_per_day", "must be between 1 and 24".into());
        }
        if q.within_hours == 0 || q.within_hours > 24 * 14 {
            return err("quarantine", "within_hours", "must be between 1 and 336".into());
        }
        let tr = &self.transfer;
        if tr.households_per_vehicle == 0 || tr.households_per_vehicle > 50 {
            return err("transfer", "households_per_vehicle", "must be between 1 and 50".into());
        }
        if tr.alert_after_minutes == 0 || tr.alert_after_minutes > 24 * 60 {
            return err("transfer", "alert_after_minutes", "must be between 1 and 1440".into());
        }
        let t = &self.testing;
        if let Some(n) = t.pool_sizes.iter().find(|n| crate::testing::PoolCapacity::new(**n).is_err()) {
            return err(
                "testing",
                "pool_sizes",
                format!("pool size {n} is outside 1..={}", crate::testing::PoolCapacity::LARGEST),
            );
        }
        if t.pool_sizes.is_empty() || !t.pool_sizes.contains(&t.pool_size) {
            return err("testing", "pool_size", "pool_size must be one of pool_sizes".into());
        }
        if !(1..=60).contains(&t.advisor_rounds) {
            return err("testing", "advisor_rounds", "must be between 1 and 60".into());
        }
        if !(50..=120).contains(&t.elderly_age) {
            return err("testing", "elderly_age", "must be between 50 and 120".into());
        }
        if !(1..=366).contains(&self.passes.longest_days) {
            return err("passes", "longest_days", "must be between 1 and 366".into());
        }
        if self.codes.token_valid_days == 0 || self.codes.token_valid_days > 366 {
            return err("codes", "token_valid_days", "must be between 1 and 366".into());
        }
        let sec = &self.security;
        if sec.login_window_minutes == 0 || sec.login_first_delay_seconds == 0 {
            return err("security", "login_window_minutes", "login window and first delay must be at least 1".into());
        }
        if sec.login_account_max_delay_seconds > sec.login_client_max_delay_seconds {
            return err("security", "login_account_max_delay_seconds", "must not exceed the client address's".into());
        }
        if sec.device_time_max_age_hours == 0 {
            return err("security", "device_time_max_age_hours", "must be at least 1".into());
        }
        let tr = &self.tracing;
        if !(1..=30).contains(&tr.lookback_days) {
            return err("tracing", "lookback_days", "must be between 1 and 30".into());
        }
        if !(1..=1440).contains(&tr.copresence_minutes) {
            return err("tracing", "copresence_minutes", "must be between 1 and 1440".into());
        }
        for (key, class) in [
            ("household_class", tr.household_class),
            ("pool_mate_class", tr.pool_mate_class),
            ("same_unit_class", tr.same_unit_class),
            ("copresence_class", tr.copresence_class),
        ] {
            if class == crate::tracing::Class::Secondary && self.secondary_contact.is_none() {
                return err(
                    "tracing",
                    key,
                    "secondary contacts are proposed but the profile has no [secondary_contact] regime".into(),
                );
            }
        }
        if tr.contacts_of_contacts && self.secondary_contact.is_none() {
            return err(
                "tracing",
                "contacts_of_contacts",
                "contacts of contacts need a [secondary_contact] regime".into(),
            );
        }
        for (key, h) in [
            ("core_info_hours", tr.core_info_hours),
            ("report_hours", tr.report_hours),
            ("notify_hours", tr.notify_hours),
        ] {
            if !(1..=168).contains(&h) {
                return err("tracing", key, "must be between 1 and 168".into());
            }
        }
        Ok(())
    }

    /// The profile a stored setting (`name`, `source`) applies: its text, or — when that
    /// text no longer parses because a shipped profile stored by an earlier release lacks
    /// rules a later one added — the shipped profile of that name as this release carries
    /// it, with the error of the stored text (for a warning). `Err` when neither parses.
    pub fn effective(name: &str, source: &str) -> Result<(Profile, Option<ProfileError>), ProfileError> {
        match Profile::parse(source) {
            Ok(p) => Ok((p, None)),
            Err(e) => match Profile::shipped(name) {
                Some(Ok(p)) => Ok((p, Some(e))),
                _ => Err(e),
            },
        }
    }

    /// A shipped profile by name.
    pub fn shipped(name: &str) -> Option<Result<Profile, ProfileError>> {
        SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, src)| Profile::parse(src))
    }

    /// The colour a trigger gives under this profile, if any.
    pub fn colour_of(&self, t: Trigger) -> Option<crate::colour::Colour> {
        use crate::colour::Colour;
        if self.colours.red.contains(&t) {
            Some(Colour::Red)
        } else if self.colours.yellow.contains(&t) {
            Some(Colour::Yellow)
        } else {
            None
        }
    }

    /// The capacity a tube is opened with: the one asked for, or the profile's pool size;
    /// it must be one of the profile's pool sizes.
    pub fn pool_capacity(&self, asked: Option<u32>) -> Result<crate::testing::PoolCapacity, FieldError> {
        let n = asked.unwrap_or(self.testing.pool_size);
        let sizes = &self.testing.pool_sizes;
        if !sizes.contains(&n) {
            let list: Vec<String> = sizes.iter().map(u32::to_string).collect();
            return Err(FieldError::new(
                "pool_size_invalid",
                "pool_size",
                format!("混检容量只能是 {}（收到 {n}）", list.join("、")),
                format!("pool size must be one of {} (got {n})", list.join(", ")),
            ));
        }
        crate::testing::PoolCapacity::new(n)
    }

    /// Whether a zone of this level may be designated under this profile.
    pub fn allows_zone(&self, level: ZoneLevel) -> bool {
        level != ZoneLevel::Medium || self.zones.medium_zones
    }

    /// Where a zone goes next under the zone clock: `(next level, days without a new
    /// infection needed)`. `came_from_high` tells a stepped-down medium zone from one that
    /// was medium from the start. `None` for low (the rest of the district).
    pub fn zone_step(&self, level: ZoneLevel, came_from_high: bool) -> Option<(ZoneLevel, u32)> {
        let z = &self.zones;
        match level {
            ZoneLevel::High => Some((z.high_steps_to, z.high_clear_days)),
            ZoneLevel::Medium if came_from_high => z.medium_after_high_clear_days.map(|d| (ZoneLevel::Low, d)),
            ZoneLevel::Medium => z.medium_clear_days.map(|d| (ZoneLevel::Low, d)),
            ZoneLevel::Low => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colour::Colour;

    fn shipped(name: &str) -> Profile {
        Profile::shipped(name).unwrap().unwrap()
    }

    #[test]
    fn protocol_9_is_the_spec() {
        let p = shipped("protocol-9");
        assert_eq!(p.name, "protocol-9");
        assert_eq!(p.colours.red, vec![Trigger::Case, Trigger::CloseContact]);
        for t in [
            Trigger::PoolPositive,
            Trigger::SecondaryContact,
            Trigger::ZoneHigh,
            Trigger::ZoneMedium,
            Trigger::HomeQuarantine,
            Trigger::MissedRound,
        ] {
            assert_eq!(p.colour_of(t), Some(Colour::Yellow), "{t:?}");
        }
        assert_eq!(p.colours.missed_rounds_for_yellow, 1);
        let cc = &p.close_contact;
        assert_eq!((cc.centralised_days, cc.home_days), (7, 3));
        assert_eq!(cc.centralised_test_days, vec![1, 2, 3, 5, 7]);
        assert_eq!(cc.home_test_days, vec![3]);
        let sc = p.secondary_contact.as_ref().unwrap();
        assert_eq!((sc.centralised_days, sc.home_days), (0, 7));
        assert_eq!(sc.home_test_days, vec![1, 4, 7]);
        assert_eq!(p.zone_step(ZoneLevel::High, false), Some((ZoneLevel::Medium, 7)));
        assert_eq!(p.zone_step(ZoneLevel::Medium, true), Some((ZoneLevel::Low, 3)));
        assert_eq!(p.zone_step(ZoneLevel::Medium, false), Some((ZoneLevel::Low, 7)));
        assert_eq!(p.zone_step(ZoneLevel::Low, false), None);
        assert!(p.allows_zone(ZoneLevel::Medium));
        assert_eq!(p.testing.pool_size, 10);
    }

    #[test]
    fn measures_20_is_the_spec() {
        let p = shipped("measures-20");
        let cc = &p.close_contact;
        assert_eq!((cc.centralised_days, cc.home_days), (5, 3));
        assert!(p.secondary_contact.is_none());
        assert_eq!(p.colour_of(Trigger::SecondaryContact), None);
        assert_eq!(p.colour_of(Trigger::ZoneMedium), None);
        assert!(!p.allows_zone(ZoneLevel::Medium));
        assert_eq!(p.zone_step(ZoneLevel::High, false), Some((ZoneLevel::Low, 5)));
        assert_eq!(p.testing.pool_size, 10);
    }

    #[test]
    fn containment_rules_per_profile() {
        let p = shipped("protocol-9");
        let z = &p.zones;
        assert_eq!((z.high_zone_area, z.medium_zone_area), (AreaLevel::Building, Some(AreaLevel::Compound)));
        assert_eq!(z.clock_time(), NaiveTime::from_hms_opt(0, 0, 0));
        assert!(z.needs_negative_round(ZoneLevel::High) && z.needs_negative_round(ZoneLevel::Medium));
        assert_eq!(z.movement(ZoneLevel::High), Movement::StayHome);
        assert_eq!(z.movement(ZoneLevel::Medium), Movement::StayInCompound);
        assert_eq!(z.movement(ZoneLevel::Low), Movement::Free);
        assert_eq!(z.proposed_area(ZoneLevel::Medium), Some(AreaLevel::Compound));
        assert_eq!((p.arrival.centralised_days, p.arrival.home_days), (7, 0));
        let q = &p.quarantine;
        assert_eq!((q.room_sharing, q.household_together, q.separate_floors), (RoomSharing::Household, true, true));
        assert_eq!((q.fever_celsius.tenths(), q.health_checks_per_day, q.within_hours), (373, 2, 24));
        assert_eq!(q.fever_celsius.to_string(), "37.3");
        let t = &p.transfer;
        assert_eq!((t.households_per_vehicle, t.mix_categories, t.alert_after_minutes), (3, false, 120));

        let m = shipped("measures-20");
        let z = &m.zones;
        assert_eq!((z.high_zone_area, z.medium_zone_area), (AreaLevel::Building, None));
        assert!(!z.needs_negative_round(ZoneLevel::High));
        assert_eq!(z.proposed_area(ZoneLevel::Medium), None);
        assert_eq!(z.movement(ZoneLevel::High), Movement::StayHome);
        assert_eq!((m.arrival.centralised_days, m.arrival.home_days), (0, 7));
        assert_eq!(m.arrival.home_test_days, vec![1, 3, 5, 7]);
    }

    #[test]
    fn containment_rule_errors_name_the_line() {
        let at = |src: &str, needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
        for (from, to, needle) in [
            ("high_zone_area = \"building\"", "high_zone_area = \"compound\"", "high_zone_area"),
            ("medium_zone_area = \"compound\"", "medium_zone_area = \"unit\"", "medium_zone_area"),
            ("clock_time = \"00:00\"", "clock_time = \"24:00\"", "clock_time"),
            ("households_per_vehicle = 3", "households_per_vehicle = 0", "households_per_vehicle"),
            ("alert_after_minutes = 120", "alert_after_minutes = 0", "alert_after_minutes"),
            ("health_checks_per_day = 2", "health_checks_per_day = 0", "health_checks_per_day"),
            ("within_hours = 24", "within_hours = 0", "within_hours"),
        ] {
            let src = SHIPPED[0].1.replace(from, to);
            let e = Profile::parse(&src).unwrap_err();
            assert_eq!(e.line, at(&src, needle), "{to}: {e}");
        }
        let src = SHIPPED[0].1.replace("medium_movement = \"stay_in_compound\"\n", "");
        assert!(Profile::parse(&src).unwrap_err().reason.contains("required"));
        let src = SHIPPED[0].1.replace("fever_celsius = 37.3", "fever_celsius = 73.3");
        let e = Profile::parse(&src).unwrap_err();
        assert_eq!(e.line, at(&src, "fever_celsius"), "{e}");
        let src = SHIPPED[1]
            .1
            .replace("high_movement = \"stay_home\"", "high_movement = \"stay_home\"\nmedium_movement = \"free\"");
        let e = Profile::parse(&src).unwrap_err();
        assert_eq!(e.line, at(&src, "medium_movement"), "{e}");
        let src = SHIPPED[1].1.replace("home_test_days = [1, 3, 5, 7]", "home_test_days = [1, 3, 5, 8]");
        let e = Profile::parse(&src).unwrap_err();
        assert_eq!(e.line, at(&src, "[1, 3, 5, 8]"), "{e}");
    }

    #[test]
    fn a_stored_shipped_profile_of_an_earlier_release_applies_as_shipped_now() {
        let old = SHIPPED[0].1.replace("[transfer]", "[transfer_old]").replace("households_per_vehicle = 3\n", "");
        let (p, warning) = Profile::effective("protocol-9", &old).unwrap();
        assert_eq!(p, shipped("protocol-9"));
        assert!(warning.is_some());
        assert_eq!(Profile::effective("protocol-9", SHIPPED[0].1).unwrap().1, None);
        assert!(Profile::effective("my-own", &old).is_err());
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let src = SHIPPED[0].1.replace("high_clear_days = 7", "high_clear_days = seven");
        let e = Profile::parse(&src).unwrap_err();
        let want = src.lines().position(|l| l.contains("seven")).unwrap() + 1;
        assert_eq!(e.line, want, "{e}");
        assert!(!e.reason.is_empty());
    }

    #[test]
    fn unknown_trigger_and_key_name_the_line() {
        let src = SHIPPED[0].1.replace("\"missed_round\",", "\"sneezed\",");
        let e = Profile::parse(&src).unwrap_err();
        assert_eq!(e.line, src.lines().position(|l| l.contains("sneezed")).unwrap() + 1, "{e}");
        let src = SHIPPED[0].1.replace("pool_size = 10", "pool_size = 10\npool_colour = 3");
        let e = Profile::parse(&src).unwrap_err();
        assert_eq!(e.line, src.lines().position(|l| l.contains("pool_colour")).unwrap() + 1, "{e}");
    }

    #[test]
    fn rule_errors_name_the_line() {
        let src = SHIPPED[0].1.replace("home_test_days = [1, 4, 7]", "home_test_days = [1, 4, 8]");
        let e = Profile::parse(&src).unwrap_err();
        assert_eq!(e.line, src.lines().position(|l| l.contains("[1, 4, 8]")).unwrap() + 1, "{e}");
        let src = SHIPPED[1].1.replace("\"zone_high\",", "\"zone_high\", \"zone_medium\",");
        let e = Profile::parse(&src).unwrap_err();
        assert!(e.reason.contains("medium"), "{e}");
        let src = SHIPPED[0]
            .1
            .replace("  \"zone_medium\",\n", "")
            .replace("red = [\"case\", \"close_contact\"]", "red = [\"case\", \"close_contact\", \"zone_medium\"]");
        let e = Profile::parse(&src).unwrap_err();
        assert!(e.reason.contains("zone_high"), "{e}");
        assert_eq!(e.field_error().code, "policy_invalid");
        assert!(e.field_error().zh.contains(&format!("第{}行", e.line)));
    }
}
