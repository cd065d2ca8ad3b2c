//! Quarantine (隔离): sites and rooms with the room state machine, the categories of
//! people held, orders made from a profile's regime with their test days, test results,
//! health checks, and release readiness.
//!
//! An order is made from [`crate::regime::Schedule`]: centralised when its regime has
//! centralised days (then it waits for a transfer), home otherwise (then it starts at
//! once). Its state machine:
//!
//! ```text
//! centralised: ordered → in_transfer (picked up) → in_quarantine (arrived)
//!              → home_monitoring (released, when the regime has home days) → closed
//! home:        in_quarantine → closed
//! any open state → became_case (a case found in quarantine); ordered → cancelled
//! ```
//!
//! Release needs the phase's days done (the day after its last day) and every test of
//! the phase negative; a missing, unresolved or positive test blocks it with its day.

use super::{Refusal, add_days, local_date};
use crate::area::AreaCode;
use crate::colour::{ContactClass, QuarantineKind, QuarantineOrder};
use crate::error::FieldError;
use crate::id_number::IdNumber;
use crate::name::PersonName;
use crate::phone::Phone;
use crate::policy::{Celsius, Profile, Regime};
use crate::regime::{Phase, Schedule};
use crate::testing::TestResult;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident => ($s:literal, $zh:literal, $en:literal)),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($v,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub fn as_str(self) -> &'static str { match self { $($name::$v => $s,)* } }
            pub fn zh(self) -> &'static str { match self { $($name::$v => $zh,)* } }
            pub fn en(self) -> &'static str { match self { $($name::$v => $en,)* } }
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s.trim())
            }
        }
    };
}

word_enum! {
    /// What kind of place a site is.
    SiteKind {
        Hotel => ("hotel", "隔离酒店", "quarantine hotel"),
        Fangcang => ("fangcang", "方舱", "shelter hospital (方舱)"),
        Other => ("other", "其他隔离场所", "other site"),
    }
}

word_enum! {
    /// Who is held: categories never share a room (or, where the profile says, a floor).
    Category {
        CloseContact => ("close_contact", "密切接触者", "close contact"),
        SecondaryContact => ("secondary_contact", "密接的密接", "secondary contact"),
        Arrival => ("arrival", "风险地区来返人员", "arrival from a risk area"),
        Case => ("case", "病例", "case"),
    }
}

impl From<ContactClass> for Category {
    fn from(c: ContactClass) -> Category {
        match c {
            ContactClass::Close => Category::CloseContact,
            ContactClass::Secondary => Category::SecondaryContact,
        }
    }
}

impl Category {
    /// The profile's regime for this category; `None` for cases (never quarantined) and
    /// for a class the profile does not trace.
    pub fn regime(self, profile: &Profile) -> Option<&Regime> {
        match self {
            Category::CloseContact => Some(&profile.close_contact),
            Category::SecondaryContact => profile.secondary_contact.as_ref(),
            Category::Arrival => Some(&profile.arrival),
            Category::Case => None,
        }
    }
}

fn bounded(s: &str, max: usize, r: Refusal) -> Result<String, FieldError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > max { Err(r.error()) } else { Ok(s.to_string()) }
}

// ---- sites -------------------------------------------------------------------------------

/// A checked request to open a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSite {
    pub name: String,
    pub kind: SiteKind,
    pub address: String,
    /// Where it stands (any area of the district): for scoping lists.
    pub area: AreaCode,
    pub manager: String,
    /// The site manager's account, when there is one.
    pub manager_user_id: Option<i64>,
    pub manager_phone: Option<Phone>,
    pub categories: Vec<Category>,
    pub created_at: DateTime<Utc>,
}

impl NewSite {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        kind: SiteKind,
        address: &str,
        area: AreaCode,
        manager: &str,
        manager_user_id: Option<i64>,
        manager_phone: Option<Phone>,
        categories: &[Category],
        now: DateTime<Utc>,
    ) -> Result<NewSite, FieldError> {
        let mut cats = categories.to_vec();
        cats.sort();
        cats.dedup();
        if cats.is_empty() {
            return Err(Refusal::SiteCategories.error());
        }
        // Cases never share a site with people in quarantine, and only a shelter hospital
        // takes them.
        if cats.contains(&Category::Case) && (kind != SiteKind::Fangcang || cats.len() > 1) {
            return Err(Refusal::SiteCasesElsewhere.error());
        }
        Ok(NewSite {
            name: bounded(name, 80, Refusal::SiteName)?,
            kind,
            address: bounded(address, 200, Refusal::SiteAddress)?,
            area,
            manager: bounded(manager, 40, Refusal::SiteManager)?,
            manager_user_id,
            manager_phone,
            categories: cats,
            created_at: now,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: i64,
    #[serde(flatten)]
    pub site: NewSite,
}

impl Site {
    pub fn accepts(&self, c: Category) -> bool {
        self.site.categories.contains(&c)
    }
}

// ---- rooms -------------------------------------------------------------------------------

word_enum! {
    RoomState {
        Free => ("free", "空闲", "free"),
        Occupied => ("occupied", "已入住", "occupied"),
        Cleaning => ("cleaning", "待消杀", "to be cleaned"),
        OutOfService => ("out_of_service", "停用", "out of service"),
    }
}

/// What happens to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomEvent {
    /// Someone is assigned to it.
    Occupy,
    /// Someone leaves it; `remaining` stay.
    Vacate {
        remaining: u32,
    },
    /// Cleaned and disinfected (终末消毒).
    Cleaned,
    OutOfService,
    BackInService,
}

/// The room state machine. A room people leave is cleaned before anyone else comes in;
/// a room back in service is cleaned first too; a room with people in it cannot be
/// cleaned or taken out of service.
pub fn room_after(state: RoomState, event: RoomEvent) -> Result<RoomState, FieldError> {
    use RoomEvent as E;
    use RoomState as S;
    match (state, event) {
        (S::Free | S::Occupied, E::Occupy) => Ok(S::Occupied),
        (S::Cleaning | S::OutOfService, E::Occupy) => Err(Refusal::RoomNotAvailable.error()),
        (S::Occupied, E::Vacate { remaining: 0 }) => Ok(S::Cleaning),
        (S::Occupied, E::Vacate { .. }) => Ok(S::Occupied),
        (S::Cleaning, E::Cleaned) => Ok(S::Free),
        (S::Occupied, E::Cleaned | E::OutOfService) => Err(Refusal::RoomOccupied.error()),
        (S::Free | S::Cleaning, E::OutOfService) => Ok(S::OutOfService),
        (S::OutOfService, E::BackInService) => Ok(S::Cleaning),
        _ => Err(Refusal::RoomTransition.error()),
    }
}

/// A checked room to add to a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRoom {
    pub floor: i32,
    pub number: String,
    pub beds: u32,
}

impl NewRoom {
    pub fn new(floor: i32, number: &str, beds: u32) -> Result<NewRoom, FieldError> {
        if !(-5..=200).contains(&floor) {
            return Err(Refusal::RoomFloor.error());
        }
        let number = number.trim();
        if number.is_empty()
            || number.chars().count() > 12
            || !number.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Refusal::RoomNumber.error());
        }
        if !(1..=20).contains(&beds) {
            return Err(Refusal::RoomBeds.error());
        }
        Ok(NewRoom { floor, number: number.to_string(), beds })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: i64,
    pub site_id: i64,
    pub floor: i32,
    pub number: String,
    pub beds: u32,
    pub state: RoomState,
    pub state_at: DateTime<Utc>,
}

// ---- people and orders -------------------------------------------------------------------

/// The person an order is about: a registered resident (`resident_id`) or a person known
/// by name, ID number and phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub resident_id: Option<i64>,
    pub name: PersonName,
    pub id_number: Option<IdNumber>,
    pub phone: Option<Phone>,
    /// The resident's unit (home quarantine happens there; scoping follows it).
    pub unit: Option<AreaCode>,
    /// Where the person stays, as written (for people not on the register).
    pub address: String,
    /// Household members travel and stay together where the rules allow.
    pub household_id: Option<i64>,
}

impl Person {
    /// Checks what an order needs to know of a person.
    pub fn check(&self) -> Result<(), FieldError> {
        if self.resident_id.is_none() && self.id_number.is_none() {
            return Err(Refusal::PersonIdentity.error());
        }
        if self.address.chars().count() > 200 || (self.resident_id.is_none() && self.address.trim().is_empty()) {
            return Err(Refusal::PersonAddress.error());
        }
        Ok(())
    }
}

word_enum! {
    OrderState {
        Ordered => ("ordered", "待转运", "awaiting transfer"),
        InTransfer => ("in_transfer", "转运中", "in transfer"),
        InQuarantine => ("in_quarantine", "隔离中", "in quarantine"),
        HomeMonitoring => ("home_monitoring", "居家健康监测", "home health monitoring"),
        Closed => ("closed", "已解除", "closed"),
        BecameCase => ("became_case", "隔离中发现阳性", "became a case"),
        Cancelled => ("cancelled", "已撤销", "cancelled"),
    }
}

impl OrderState {
    pub fn is_open(self) -> bool {
        !matches!(self, OrderState::Closed | OrderState::BecameCase | OrderState::Cancelled)
    }
}

word_enum! {
    /// Where a person is tested on a test day.
    TestPlace {
        Site => ("site", "隔离点采样", "at the site"),
        Door => ("door", "上门采样", "at the door"),
    }
}

word_enum! {
    TestStatus {
        Scheduled => ("scheduled", "待检测", "scheduled"),
        Negative => ("negative", "阴性", "negative"),
        Positive => ("positive", "阳性", "positive"),
        PoolPositive => ("pool_positive", "混管阳性待复核", "positive pool, awaiting retest"),
        Invalid => ("invalid", "无效待重采", "invalid, to be retaken"),
    }
}

impl TestStatus {
    /// Waiting for a (new) sample.
    pub fn unresolved(self) -> bool {
        !matches!(self, TestStatus::Negative | TestStatus::Positive)
    }
}

/// One scheduled test of an order with its outcome. Test days become single-tube tests
/// at the site (centralised phase) or at the door (home phase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTest {
    pub order_id: i64,
    /// Day of the order (1-based) and of its phase.
    pub day: u32,
    pub phase_day: u32,
    pub phase: Phase,
    pub date: NaiveDate,
    pub place: TestPlace,
    pub status: TestStatus,
    pub sampled_at: Option<DateTime<Utc>>,
    pub result_at: Option<DateTime<Utc>>,
}

/// A quarantine order (隔离告知书): who, why, the schedule, where the person is, and each
/// step time-stamped with who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub person: Person,
    pub category: Category,
    /// The to-isolate queue entry it came from; `None` for the commander's own orders.
    pub contact_id: Option<i64>,
    pub reason: String,
    /// Kind, dates and days; its `tests` are the planned test days.
    pub schedule: Schedule,
    pub state: OrderState,
    pub transfer: Option<super::transfer::TransferState>,
    pub run_id: Option<i64>,
    pub site_id: Option<i64>,
    pub room_id: Option<i64>,
    pub identified_at: DateTime<Utc>,
    pub ordered_at: DateTime<Utc>,
    pub ordered_by: String,
    pub picked_up_at: Option<DateTime<Utc>>,
    pub picked_up_by: Option<String>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub arrived_by: Option<String>,
    /// When quarantine began: arrival at the site, or the order for home quarantine.
    pub in_quarantine_at: Option<DateTime<Utc>>,
    pub released_at: Option<DateTime<Utc>>,
    pub released_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    /// A case found in quarantine.
    pub case_at: Option<DateTime<Utc>>,
}

impl Order {
    pub fn centralised(&self) -> bool {
        self.schedule.kind == QuarantineKind::Centralised
    }

    /// The last day of the phase the person is in now, and that phase.
    pub fn phase_end(&self) -> (Phase, NaiveDate) {
        match (self.state, self.schedule.centralised_until) {
            (OrderState::HomeMonitoring, _) | (_, None) => (Phase::Home, self.schedule.end),
            (_, Some(until)) => (Phase::Centralised, until),
        }
    }

    /// The date a release of the current phase is due.
    pub fn release_due(&self) -> NaiveDate {
        add_days(self.phase_end().1, 1)
    }

    /// What the order means for the person's code now (the colour follows the order):
    /// centralised while ordered, in transfer or at the site; home during home quarantine
    /// and home monitoring; nothing once closed.
    pub fn colour_quarantine(&self) -> Option<QuarantineOrder> {
        colour_quarantine(self.state, self.centralised())
    }
}

/// What an order in `state` (of a centralised regime or not) means for the person's code:
/// the one rule `person_state` applies (the colour follows the order).
pub fn colour_quarantine(state: OrderState, centralised: bool) -> Option<QuarantineOrder> {
    let kind = match state {
        OrderState::Ordered | OrderState::InTransfer => QuarantineKind::Centralised,
        OrderState::InQuarantine if centralised => QuarantineKind::Centralised,
        OrderState::InQuarantine | OrderState::HomeMonitoring => QuarantineKind::Home,
        _ => return None,
    };
    Some(QuarantineOrder { kind, until: None })
}

/// What an order is made from: a confirmed contact of the to-isolate queue, or a person
/// the commander adds (an arrival from a risk area).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInput {
    pub person: Person,
    pub category: Category,
    pub last_exposure: DateTime<Utc>,
    pub identified_at: DateTime<Utc>,
    pub contact_id: Option<i64>,
    pub reason: String,
}

/// An order and its tests, made from the profile's regime for the category and the last
/// exposure's local date; id 0 until stored.
pub fn new_order(
    input: &OrderInput,
    profile: &Profile,
    by: &str,
    now: DateTime<Utc>,
    offset: FixedOffset,
) -> Result<(Order, Vec<OrderTest>), FieldError> {
    if input.category == Category::Case {
        return Err(Refusal::CaseNotInQuarantine.error());
    }
    let regime = input.category.regime(profile).ok_or_else(|| Refusal::NoRegime.error())?;
    input.person.check()?;
    if input.last_exposure > now {
        return Err(Refusal::ExposureInFuture.error());
    }
    let reason = input.reason.trim();
    if reason.chars().count() > 200 || (input.contact_id.is_none() && reason.is_empty()) {
        return Err(Refusal::ArrivalReason.error());
    }
    let schedule = Schedule::new(regime, local_date(input.last_exposure, offset));
    let today = local_date(now, offset);
    if schedule.end < today {
        return Err(Refusal::ExposureTooOld.error());
    }
    let centralised = schedule.kind == QuarantineKind::Centralised;
    let tests = schedule
        .tests
        .iter()
        .map(|t| OrderTest {
            order_id: 0,
            day: t.day,
            phase_day: t.phase_day,
            phase: t.phase,
            date: t.date,
            place: if t.phase == Phase::Centralised { TestPlace::Site } else { TestPlace::Door },
            status: TestStatus::Scheduled,
            sampled_at: None,
            result_at: None,
        })
        .collect();
    let order = Order {
        id: 0,
        person: input.person.clone(),
        category: input.category,
        contact_id: input.contact_id,
        reason: reason.to_string(),
        schedule,
        state: if centralised { OrderState::Ordered } else { OrderState::InQuarantine },
        transfer: centralised.then_some(super::transfer::TransferState::Requested),
        run_id: None,
        site_id: None,
        room_id: None,
        identified_at: input.identified_at.min(now),
        ordered_at: now,
        ordered_by: by.to_string(),
        picked_up_at: None,
        picked_up_by: None,
        arrived_at: None,
        arrived_by: None,
        in_quarantine_at: (!centralised).then_some(now),
        released_at: None,
        released_by: None,
        closed_at: None,
        closed_by: None,
        case_at: None,
    };
    Ok((order, tests))
}

/// What happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEvent {
    PickedUp,
    Arrived,
    Release,
    Case,
    Cancel,
}

/// The order state machine (see the module docs).
pub fn order_after(order: &Order, event: OrderEvent) -> Result<OrderState, FieldError> {
    use OrderState as S;
    if !order.state.is_open() {
        return Err(Refusal::OrderClosed.error());
    }
    match (order.state, event) {
        (_, OrderEvent::Case) => Ok(S::BecameCase),
        (S::Ordered, OrderEvent::PickedUp) => Ok(S::InTransfer),
        (S::InTransfer, OrderEvent::Arrived) => Ok(S::InQuarantine),
        (S::InQuarantine, OrderEvent::Release) if order.centralised() && order.schedule.home_days > 0 => {
            Ok(S::HomeMonitoring)
        }
        (S::InQuarantine | S::HomeMonitoring, OrderEvent::Release) => Ok(S::Closed),
        (S::Ordered, OrderEvent::Cancel) => Ok(S::Cancelled),
        _ => Err(Refusal::OrderTransition.error()),
    }
}

/// Whether the order may be released on `today`, and to which state: the phase's days
/// are done and every test of the phase up to its last day is negative.
pub fn release_check(order: &Order, tests: &[OrderTest], today: NaiveDate) -> Result<OrderState, FieldError> {
    let next = order_after(order, OrderEvent::Release)?;
    let (phase, end) = order.phase_end();
    let due = add_days(end, 1);
    if today < due {
        return Err(Refusal::ReleaseTooEarly.detail(format!("可于{due}解除"), format!("release from {due}")));
    }
    let mut mine: Vec<&OrderTest> =
        tests.iter().filter(|t| t.order_id == order.id && t.phase == phase && t.date <= end).collect();
    mine.sort_by_key(|t| t.day);
    let day = |t: &OrderTest| (format!("第{}天（{}）", t.day, t.date), format!("day {} ({})", t.day, t.date));
    for (status, refusal) in [
        (TestStatus::Positive, Refusal::ReleaseTestPositive),
        (TestStatus::PoolPositive, Refusal::ReleaseTestUnresolved),
        (TestStatus::Invalid, Refusal::ReleaseTestUnresolved),
        (TestStatus::Scheduled, Refusal::ReleaseTestMissing),
    ] {
        if let Some(t) = mine.iter().find(|t| t.status == status) {
            let (zh, en) = day(t);
            return Err(refusal.detail(zh, en));
        }
    }
    Ok(next)
}

// ---- test results -------------------------------------------------------------------------

/// A lab result of one person's sample, as mass testing's `record_results` knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonResult {
    pub resident_id: i64,
    pub sampled_at: DateTime<Utc>,
    pub result: TestResult,
    /// The sample was in a pool: a positive pool is not yet the person's positive.
    pub pooled: bool,
    pub result_at: DateTime<Utc>,
}

/// The status a result gives a test.
pub fn status_of(result: TestResult, pooled: bool) -> TestStatus {
    match (result, pooled) {
        (TestResult::Negative, _) => TestStatus::Negative,
        (TestResult::Positive, false) => TestStatus::Positive,
        (TestResult::Positive, true) => TestStatus::PoolPositive,
        (TestResult::Invalid, _) => TestStatus::Invalid,
    }
}

/// Which of an order's tests a result resolves (an index into `tests`): the test of the
/// sample's local date while it waits for a result; else the earliest earlier test still
/// waiting (a late or repeated sample — a retest after a positive pool or an invalid
/// tube — fills it). A positive result always lands, on the test of its date or the
/// latest test before it, so a release can never overlook it. `None`: the sample is none
/// of the order's tests.
pub fn test_for_result(tests: &[OrderTest], r: &PersonResult, offset: FixedOffset) -> Option<usize> {
    let date = local_date(r.sampled_at, offset);
    let waiting = |t: &OrderTest| t.status.unresolved();
    if let Some(i) = tests.iter().position(|t| t.date == date && waiting(t)) {
        return Some(i);
    }
    let earlier = tests
        .iter()
        .enumerate()
        .filter(|(_, t)| t.date < date && waiting(t))
        .min_by_key(|(_, t)| t.date)
        .map(|(i, _)| i);
    if earlier.is_some() {
        return earlier;
    }
    if status_of(r.result, r.pooled) == TestStatus::Positive {
        return tests.iter().enumerate().filter(|(_, t)| t.date <= date).max_by_key(|(_, t)| t.date).map(|(i, _)| i);
    }
    None
}

// ---- health checks ------------------------------------------------------------------------

word_enum! {
    Symptom {
        Cough => ("cough", "咳嗽", "cough"),
        SoreThroat => ("sore_throat", "咽痛", "sore throat"),
        Fatigue => ("fatigue", "乏力", "fatigue"),
        SmellTaste => ("smell_taste", "嗅觉味觉减退", "loss of smell or taste"),
        Diarrhoea => ("diarrhoea", "腹泻", "diarrhoea"),
        ShortBreath => ("short_breath", "呼吸困难", "shortness of breath"),
        Other => ("other", "其他不适", "other"),
    }
}

/// Parses a temperature typed as `36.8` (or `36,8`): 34.0 to 43.0 °C.
pub fn parse_temperature(input: &str) -> Result<Celsius, FieldError> {
    let v: f64 = input.trim().replace(',', ".").parse().map_err(|_| Refusal::Temperature.error())?;
    if !(34.0..=43.0).contains(&v) {
        return Err(Refusal::Temperature.error());
    }
    Ok(Celsius::from_tenths((v * 10.0).round() as u16))
}

/// A checked health check (temperature and symptoms), by site staff or, at home, by the
/// community or grid worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHealthCheck {
    pub order_id: i64,
    pub at: DateTime<Utc>,
    pub temperature: Celsius,
    pub symptoms: Vec<Symptom>,
    pub note: String,
    /// A fever by the profile's threshold, or any symptom.
    pub alarm: bool,
    pub by_id: Option<i64>,
    pub by: String,
}

impl NewHealthCheck {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        order_id: i64,
        temperature: Celsius,
        symptoms: &[Symptom],
        note: &str,
        profile: &Profile,
        by_id: Option<i64>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<NewHealthCheck, FieldError> {
        if !(340..=430).contains(&temperature.tenths()) {
            return Err(Refusal::Temperature.error());
        }
        let note = note.trim();
        if note.chars().count() > 200 {
            return Err(Refusal::HealthNote.error());
        }
        let mut symptoms = symptoms.to_vec();
        symptoms.sort();
        symptoms.dedup();
        Ok(NewHealthCheck {
            order_id,
            at,
            temperature,
            alarm: temperature >= profile.quarantine.fever_celsius || !symptoms.is_empty(),
            symptoms,
            note: note.to_string(),
            by_id,
            by: by.to_string(),
        })
    }
}

/// A health check may be recorded while the person is held (at the site or at home).
pub fn check_health_check(order: &Order) -> Result<(), FieldError> {
    match order.state {
        OrderState::InQuarantine | OrderState::HomeMonitoring | OrderState::InTransfer => Ok(()),
        s if !s.is_open() => Err(Refusal::OrderClosed.error()),
        _ => Err(Refusal::OrderTransition.error()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub id: i64,
    #[serde(flatten)]
    pub check: NewHealthCheck,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }
    fn p(name: &str) -> Profile {
        Profile::shipped(name).unwrap().unwrap()
    }
    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn local(d: &str, h: u32) -> DateTime<Utc> {
        cst().from_local_datetime(&date(d).and_hms_opt(h, 0, 0).unwrap()).unwrap().with_timezone(&Utc)
    }
    fn person(resident: Option<i64>) -> Person {
        Person {
            resident_id: resident,
            name: PersonName::parse("张三明").unwrap(),
            id_number: resident.is_none().then(|| IdNumber::parse("11010519491231002X").unwrap()),
            phone: None,
            unit: None,
            address: if resident.is_none() { "某宾馆".into() } else { String::new() },
            household_id: resident.map(|r| r * 10),
        }
    }
    fn input(category: Category, exposure: DateTime<Utc>) -> OrderInput {
        OrderInput {
            person: person(Some(1)),
            category,
            last_exposure: exposure,
            identified_at: exposure,
            contact_id: Some(9),
            reason: String::new(),
        }
    }
    fn order(category: Category, profile: &str) -> (Order, Vec<OrderTest>) {
        new_order(&input(category, local("2026-12-01", 20)), &p(profile), "tracer", local("2026-12-02", 9), cst())
            .unwrap()
    }

    #[test]
    fn order_regimes_per_contact_class_per_profile() {
        // (profile, category, kind, start, centralised until, end, test days, first state)
        let cases = [
            (
                "protocol-9",
                Category::CloseContact,
                QuarantineKind::Centralised,
                Some("2026-12-08"),
                "2026-12-11",
                vec![1, 2, 3, 5, 7, 10],
                OrderState::Ordered,
            ),
            (
                "protocol-9",
                Category::SecondaryContact,
                QuarantineKind::Home,
                None,
                "2026-12-08",
                vec![1, 4, 7],
                OrderState::InQuarantine,
            ),
            (
                "protocol-9",
                Category::Arrival,
                QuarantineKind::Centralised,
                Some("2026-12-08"),
                "2026-12-08",
                vec![1, 2, 3, 5, 7],
                OrderState::Ordered,
            ),
            (
                "measures-20",
                Category::CloseContact,
                QuarantineKind::Centralised,
                Some("2026-12-06"),
                "2026-12-09",
                vec![1, 2, 3, 5, 8],
                OrderState::Ordered,
            ),
            (
                "measures-20",
                Category::Arrival,
                QuarantineKind::Home,
                None,
                "2026-12-08",
                vec![1, 3, 5, 7],
                OrderState::InQuarantine,
            ),
        ];
        for (profile, cat, kind, until, end, days, state) in cases {
            let (o, tests) = order(cat, profile);
            assert_eq!(o.schedule.kind, kind, "{profile} {cat:?}");
            assert_eq!(o.schedule.start, date("2026-12-02"));
            assert_eq!(o.schedule.centralised_until, until.map(date), "{profile} {cat:?}");
            assert_eq!(o.schedule.end, date(end), "{profile} {cat:?}");
            assert_eq!(tests.iter().map(|t| t.day).collect::<Vec<_>>(), days, "{profile} {cat:?}");
            assert_eq!(o.state, state);
            for t in &tests {
                let place = if t.phase == Phase::Centralised { TestPlace::Site } else { TestPlace::Door };
                assert_eq!((t.place, t.status), (place, TestStatus::Scheduled));
            }
            assert_eq!(o.transfer.is_some(), kind == QuarantineKind::Centralised);
            assert_eq!(o.in_quarantine_at.is_some(), kind == QuarantineKind::Home);
        }
        // measures-20 traces no secondary contacts; cases are never quarantined.
        let now = local("2026-12-02", 9);
        let refused =
            |c, prof: &str| new_order(&input(c, local("2026-12-01", 20)), &p(prof), "t", now, cst()).unwrap_err().code;
        assert_eq!(refused(Category::SecondaryContact, "measures-20"), "order_regime");
        assert_eq!(refused(Category::Case, "protocol-9"), "case_not_quarantined");
        let future =
            new_order(&input(Category::CloseContact, local("2026-12-03", 1)), &p("protocol-9"), "t", now, cst());
        assert_eq!(future.unwrap_err().code, "exposure_future");
        let old = new_order(&input(Category::CloseContact, local("2026-11-01", 1)), &p("protocol-9"), "t", now, cst());
        assert_eq!(old.unwrap_err().code, "exposure_old");
        let mut stranger = input(Category::Arrival, local("2026-12-01", 20));
        stranger.person = Person { id_number: None, ..person(None) };
        stranger.contact_id = None;
        stranger.reason = "来自外地高风险区".into();
        assert_eq!(new_order(&stranger, &p("protocol-9"), "t", now, cst()).unwrap_err().code, "person_identity");
        stranger.person = person(None);
        assert!(new_order(&stranger, &p("protocol-9"), "t", now, cst()).is_ok());
        stranger.reason = " ".into();
        assert_eq!(new_order(&stranger, &p("protocol-9"), "t", now, cst()).unwrap_err().code, "arrival_reason");
    }

    #[test]
    fn the_order_state_machine() {
        let (mut o, _) = order(Category::CloseContact, "protocol-9");
        assert_eq!(order_after(&o, OrderEvent::Arrived).unwrap_err().code, "order_state");
        assert_eq!(order_after(&o, OrderEvent::Release).unwrap_err().code, "order_state");
        o.state = order_after(&o, OrderEvent::PickedUp).unwrap();
        assert_eq!(o.state, OrderState::InTransfer);
        assert_eq!(order_after(&o, OrderEvent::Cancel).unwrap_err().code, "order_state");
        o.state = order_after(&o, OrderEvent::Arrived).unwrap();
        assert_eq!(o.state, OrderState::InQuarantine);
        assert_eq!(o.colour_quarantine().unwrap().kind, QuarantineKind::Centralised);
        o.state = order_after(&o, OrderEvent::Release).unwrap();
        assert_eq!(o.state, OrderState::HomeMonitoring);
        assert_eq!(o.colour_quarantine().unwrap().kind, QuarantineKind::Home);
        assert_eq!(o.phase_end(), (Phase::Home, date("2026-12-11")));
        o.state = order_after(&o, OrderEvent::Release).unwrap();
        assert_eq!(o.state, OrderState::Closed);
        assert_eq!(o.colour_quarantine(), None);
        assert_eq!(order_after(&o, OrderEvent::Case).unwrap_err().code, "order_closed");
        // Arrivals under protocol-9 have no home days: released straight to closed.
        let (mut a, _) = order(Category::Arrival, "protocol-9");
        a.state = OrderState::InQuarantine;
        assert_eq!(order_after(&a, OrderEvent::Release).unwrap(), OrderState::Closed);
        assert_eq!(order_after(&a, OrderEvent::Case).unwrap(), OrderState::BecameCase);
        let (c, _) = order(Category::CloseContact, "protocol-9");
        assert_eq!(order_after(&c, OrderEvent::Cancel).unwrap(), OrderState::Cancelled);
    }

    #[test]
    fn release_needs_the_days_and_every_test_negative() {
        let (mut o, mut tests) = order(Category::CloseContact, "protocol-9");
        o.state = OrderState::InQuarantine;
        let centralised = |tests: &mut Vec<OrderTest>, s: TestStatus| {
            for t in tests.iter_mut().filter(|t| t.phase == Phase::Centralised) {
                t.status = s;
            }
        };
        centralised(&mut tests, TestStatus::Negative);
        let e = release_check(&o, &tests, date("2026-12-08")).unwrap_err();
        assert_eq!(e.code, "release_early");
        assert!(e.zh.contains("2026-12-09"));
        assert_eq!(release_check(&o, &tests, date("2026-12-09")).unwrap(), OrderState::HomeMonitoring);
        // The home test is not due for this release.
        assert_eq!(tests.last().unwrap().status, TestStatus::Scheduled);
        tests[4].status = TestStatus::Scheduled;
        let e = release_check(&o, &tests, date("2026-12-09")).unwrap_err();
        assert_eq!(e.code, "release_test_missing");
        assert!(e.zh.contains("第7天") && e.en.contains("day 7"), "{e:?}");
        tests[2].status = TestStatus::PoolPositive;
        assert_eq!(release_check(&o, &tests, date("2026-12-09")).unwrap_err().code, "release_test_unresolved");
        tests[1].status = TestStatus::Positive;
        let e = release_check(&o, &tests, date("2026-12-09")).unwrap_err();
        assert_eq!(e.code, "release_test_positive");
        assert!(e.en.contains("day 2"));
        // Home monitoring closes after its 3 days with its test negative.
        centralised(&mut tests, TestStatus::Negative);
        o.state = OrderState::HomeMonitoring;
        assert_eq!(release_check(&o, &tests, date("2026-12-12")).unwrap_err().code, "release_test_missing");
        tests.last_mut().unwrap().status = TestStatus::Negative;
        assert_eq!(release_check(&o, &tests, date("2026-12-11")).unwrap_err().code, "release_early");
        assert_eq!(release_check(&o, &tests, date("2026-12-12")).unwrap(), OrderState::Closed);
    }

    #[test]
    fn results_land_on_the_right_test() {
        let (_, tests) = order(Category::CloseContact, "protocol-9");
        let r = |d: &str, result, pooled| PersonResult {
            resident_id: 1,
            sampled_at: local(d, 8),
            result,
            pooled,
            result_at: local(d, 20),
        };
        // Day 1 is 2026-12-02.
        assert_eq!(test_for_result(&tests, &r("2026-12-02", TestResult::Negative, false), cst()), Some(0));
        // A day with no test (day 4) fills the earliest one still waiting.
        assert_eq!(test_for_result(&tests, &r("2026-12-05", TestResult::Negative, false), cst()), Some(0));
        let mut done = tests.clone();
        for t in done.iter_mut().take(3) {
            t.status = TestStatus::Negative;
        }
        assert_eq!(test_for_result(&done, &r("2026-12-05", TestResult::Negative, false), cst()), None);
        done[2].status = TestStatus::PoolPositive;
        assert_eq!(test_for_result(&done, &r("2026-12-05", TestResult::Negative, false), cst()), Some(2));
        done[2].status = TestStatus::Negative;
        assert_eq!(test_for_result(&done, &r("2026-12-05", TestResult::Positive, false), cst()), Some(2));
        assert_eq!(test_for_result(&done, &r("2026-12-01", TestResult::Positive, false), cst()), None);
        assert_eq!(status_of(TestResult::Positive, true), TestStatus::PoolPositive);
        assert_eq!(status_of(TestResult::Invalid, false), TestStatus::Invalid);
    }

    #[test]
    fn sites_rooms_and_health_checks() {
        let area = AreaCode::parse("141102001").unwrap();
        let now = local("2026-12-02", 9);
        let site = |kind, cats: &[Category]| {
            NewSite::new("一号隔离点", kind, "幸福路1号", area.clone(), "王经理", None, None, cats, now)
        };
        assert!(site(SiteKind::Hotel, &[Category::CloseContact, Category::Arrival]).is_ok());
        assert_eq!(site(SiteKind::Hotel, &[]).unwrap_err().code, "site_categories");
        assert_eq!(site(SiteKind::Hotel, &[Category::Case]).unwrap_err().code, "site_cases");
        assert_eq!(site(SiteKind::Fangcang, &[Category::Case, Category::CloseContact]).unwrap_err().code, "site_cases");
        assert!(site(SiteKind::Fangcang, &[Category::Case]).is_ok());
        let long = "长".repeat(81);
        assert_eq!(
            NewSite::new(&long, SiteKind::Hotel, "x", area, "m", None, None, &[Category::Arrival], now)
                .unwrap_err()
                .code,
            "site_name"
        );

        assert_eq!(NewRoom::new(3, "301", 2).unwrap().beds, 2);
        assert_eq!(NewRoom::new(3, "3 01", 2).unwrap_err().code, "room_number");
        assert_eq!(NewRoom::new(300, "301", 2).unwrap_err().code, "room_floor");
        assert_eq!(NewRoom::new(3, "301", 0).unwrap_err().code, "room_beds");

        use RoomEvent as E;
        use RoomState as S;
        assert_eq!(room_after(S::Free, E::Occupy).unwrap(), S::Occupied);
        assert_eq!(room_after(S::Occupied, E::Occupy).unwrap(), S::Occupied);
        assert_eq!(room_after(S::Occupied, E::Vacate { remaining: 1 }).unwrap(), S::Occupied);
        assert_eq!(room_after(S::Occupied, E::Vacate { remaining: 0 }).unwrap(), S::Cleaning);
        assert_eq!(room_after(S::Cleaning, E::Occupy).unwrap_err().code, "room_not_available");
        assert_eq!(room_after(S::Cleaning, E::Cleaned).unwrap(), S::Free);
        assert_eq!(room_after(S::Occupied, E::OutOfService).unwrap_err().code, "room_occupied");
        assert_eq!(room_after(S::Free, E::OutOfService).unwrap(), S::OutOfService);
        assert_eq!(room_after(S::OutOfService, E::Occupy).unwrap_err().code, "room_not_available");
        assert_eq!(room_after(S::OutOfService, E::BackInService).unwrap(), S::Cleaning);
        assert_eq!(room_after(S::Free, E::Cleaned).unwrap_err().code, "room_state");

        let prof = p("protocol-9");
        let t = parse_temperature("37,3").unwrap();
        let hc = NewHealthCheck::new(1, t, &[], "", &prof, None, "医生", now).unwrap();
        assert!(hc.alarm);
        let hc = NewHealthCheck::new(1, parse_temperature("36.6").unwrap(), &[], "", &prof, None, "医生", now).unwrap();
        assert!(!hc.alarm);
        let hc = NewHealthCheck::new(
            1,
            parse_temperature("36.6").unwrap(),
            &[Symptom::Cough, Symptom::Cough],
            "",
            &prof,
            None,
            "d",
            now,
        )
        .unwrap();
        assert!(hc.alarm && hc.symptoms == vec![Symptom::Cough]);
        assert_eq!(parse_temperature("45").unwrap_err().code, "temperature");
        assert_eq!(parse_temperature("hot").unwrap_err().code, "temperature");
        let (mut o, _) = order(Category::CloseContact, "protocol-9");
        assert_eq!(check_health_check(&o).unwrap_err().code, "order_state");
        o.state = OrderState::InQuarantine;
        assert!(check_health_check(&o).is_ok());
        o.state = OrderState::Closed;
        assert_eq!(check_health_check(&o).unwrap_err().code, "order_closed");
    }
}
