//! Cases and contact tracing (流调溯源, SPEC §6): a case's classification with its
//! re-classification history, how it was found and where it stands; contacts with their
//! class, exposure setting and status; the look-back window and the tracer's deadlines
//! from the profile; candidates proposed from what the district already knows
//! ([`candidates`]); source links and generations ([`chains`]); the KPIs ([`kpi`]).
//!
//! Pure: facts, the profile and `now` in, decisions out. The store fetches the facts and
//! writes the effects (`cordon_store::tracing`). Every refusal is a [`Refusal`] with its
//! field and its Chinese and English text.

pub mod candidates;
pub mod chains;
pub mod kpi;

use crate::colour::{CaseKind, ContactClass};
use crate::policy::{Profile, Regime};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

crate::error::refusal_enum! {
    /// Every refusal of case investigation: stable code, the field it is about, and its
    /// text in both languages.

    CaseExists => ("case_exists", "resident", "此人已是病例", "this person is already a case"),
    CaseUnknown => ("case_unknown", "case", "未找到该病例", "no such case"),
    ResidentUnknown => ("trace_resident_unknown", "resident", "未找到该居民", "no such resident"),
    OnsetInFuture => ("onset_future", "onset", "发病日期不能晚于今天", "the onset date cannot be after today"),
    OnsetTooOld => ("onset_old", "onset", "发病日期不能早于30天前", "the onset date cannot be more than 30 days ago"),
    Narrative => ("narrative", "narrative", "流调报告最多20000字", "the narrative is 20,000 characters at most"),
    Workplace => ("workplace", "workplace", "工作单位最多200字", "the workplace is 200 characters at most"),
    Note => ("trace_note", "note", "备注最多200字", "a note is 200 characters at most"),
    Reclassify => ("reclassify_same", "classification", "新的分型与当前分型相同", "the new classification is the same as the current one"),
    StatusClosed => ("case_status_closed", "status", "病例已结案（治愈或死亡），不能再更改状态", "the case is closed (recovered or died): its status cannot change"),
    CandidateUnknown => ("candidate_unknown", "candidate", "未找到该候选接触者", "no such candidate"),
    CandidateDecided => ("candidate_decided", "candidate", "该候选接触者已确认或已排除", "this candidate has already been confirmed or rejected"),
    NothingChosen => ("candidates_none", "candidates", "请选择候选接触者", "choose the candidates"),
    ClassNotInProfile => ("class_profile", "class", "当前防控策略不追踪次密接", "the active policy does not trace secondary contacts"),
    ContactName => ("contact_name", "name", "请填写接触者姓名（最多40字）", "give the contact's name (40 characters at most)"),
    ContactIdentity => ("contact_identity", "id_number", "非本区登记人员须填写身份证号或手机号", "a person not on the register needs an ID number or a phone"),
    ContactIsCase => ("contact_is_case", "resident", "此人已是病例，不能登记为接触者", "this person is a case, not a contact"),
    ContactIsSelf => ("contact_self", "resident", "病例不能是自己的接触者", "a case cannot be their own contact"),
    ContactExists => ("contact_exists", "resident", "此人已是该病例的接触者", "this person is already a contact of this case"),
    ContactUnknown => ("trace_contact_unknown", "contact", "未找到该接触者", "no such contact"),
    ContactAddress => ("contact_address", "address", "住址最多200字", "the address is 200 characters at most"),
    ExposureInFuture => ("trace_exposure_future", "last_exposure", "末次暴露时间不能晚于现在", "the last exposure cannot be in the future"),
    ExposureBeforeWindow => ("exposure_before_window", "last_exposure", "末次暴露时间早于流调追溯期", "the last exposure is before the look-back window"),
    StatusTransition => ("contact_status", "status", "接触者当前状态下不能进行此操作", "the contact's status does not allow this"),
    SourceUnknown => ("source_unknown", "source", "未找到传染来源病例", "no such source case"),
    SourceCycle => ("source_cycle", "source", "传播链不能成环（来源病例是本病例的下游）", "a chain cannot loop: the source is downstream of this case"),
    SourceSelf => ("source_self", "source", "病例不能是自己的传染来源", "a case cannot be its own source"),
    ClusterName => ("cluster_name", "name", "请填写聚集性疫情名称（最多80字）", "name the cluster (80 characters at most)"),
    ClusterUnknown => ("cluster_unknown", "cluster", "未找到该聚集性疫情", "no such cluster"),
    PlaceName => ("place_name", "place", "请填写地点（最多200字）", "give the place (200 characters at most)"),
    PlaceTimes => ("place_times", "until", "结束时间应晚于开始时间", "the end must be after the start"),
    PlaceOutsideWindow => ("place_window", "at", "时间不在流调追溯期内", "the time is outside the look-back window"),
    TaskUnknown => ("task_unknown", "task", "未找到该流调任务", "no such tracing task"),
    TaskDone => ("task_done", "task", "该任务已完成", "this task is done already"),
}

macro_rules! words {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $code:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $code,)* } }
            pub fn parse(s: &str) -> Option<$name> { $name::ALL.iter().copied().find(|x| x.as_str() == s) }
        }
    };
}

words! {
    /// A contact's class. Ordered by risk: a general contact is the weakest.
    Class { General => "general", Secondary => "secondary", Close => "close", }
}

impl Class {
    /// The class the colour engine knows (general contacts change no colour).
    pub fn colour_class(self) -> Option<ContactClass> {
        match self {
            Class::Close => Some(ContactClass::Close),
            Class::Secondary => Some(ContactClass::Secondary),
            Class::General => None,
        }
    }

    /// The quarantine regime of the class under `profile` (`None`: none is required).
    pub fn regime(self, profile: &Profile) -> Option<&Regime> {
        match self {
            Class::Close => Some(&profile.close_contact),
            Class::Secondary => profile.secondary_contact.as_ref(),
            Class::General => None,
        }
    }

    /// The class a proposal of `self` becomes under `profile`: secondary contacts fall
    /// back to general ones where the profile does not trace them.
    pub fn under(self, profile: &Profile) -> Class {
        if self == Class::Secondary && profile.secondary_contact.is_none() { Class::General } else { self }
    }
}

words! {
    /// Clinical classification (诊断分型). Confirmed cases are graded; asymptomatic
    /// infections are not; `pending` until a clinician classifies the case.
    Classification {
        Mild => "mild",
        Moderate => "moderate",
        Severe => "severe",
        Critical => "critical",
        Asymptomatic => "asymptomatic",
        Pending => "pending",
    }
}

impl Classification {
    pub fn case_kind(self) -> CaseKind {
        if self == Classification::Asymptomatic { CaseKind::Asymptomatic } else { CaseKind::Confirmed }
    }
}

words! {
    /// How a case was found.
    HowFound {
        PoolChase => "pool_chase",
        IndividualTest => "individual_test",
        FeverClinic => "fever_clinic",
        QuarantineScreening => "quarantine_screening",
        OtherDistrict => "other_district",
        Other => "other",
    }
}

words! {
    CaseStatus {
        Investigating => "investigating",
        Hospital => "hospital",
        Shelter => "shelter",
        Recovered => "recovered",
        Died => "died",
    }
}

impl CaseStatus {
    pub fn closed(self) -> bool {
        matches!(self, CaseStatus::Recovered | CaseStatus::Died)
    }
}

words! {
    /// Where the exposure happened.
    Setting {
        Household => "household",
        SameUnit => "same_unit",
        Workplace => "workplace",
        Venue => "venue",
        Transport => "transport",
        PoolMate => "pool_mate",
        Other => "other",
    }
}

words! {
    /// Why a candidate was proposed.
    Source {
        Household => "household",
        PoolMate => "pool_mate",
        SameUnit => "same_unit",
        Copresence => "copresence",
        ContactOfContact => "contact_of_contact",
        ExposureSite => "exposure_site",
    }
}

impl Source {
    pub fn setting(self) -> Setting {
        match self {
            Source::Household | Source::ContactOfContact => Setting::Household,
            Source::PoolMate => Setting::PoolMate,
            Source::SameUnit => Setting::SameUnit,
            Source::Copresence | Source::ExposureSite => Setting::Venue,
        }
    }
}

words! {
    CandidateState { Proposed => "proposed", Confirmed => "confirmed", Rejected => "rejected", }
}

words! {
    /// identified → notified → under quarantine → released / became a case / lost.
    ContactStatus {
        Identified => "identified",
        Notified => "notified",
        UnderQuarantine => "under_quarantine",
        Released => "released",
        BecameCase => "became_case",
        Lost => "lost",
    }
}

impl ContactStatus {
    pub fn open(self) -> bool {
        matches!(self, ContactStatus::Identified | ContactStatus::Notified | ContactStatus::UnderQuarantine)
    }

    /// The status after moving to `to`, or the refusal.
    pub fn step(self, to: ContactStatus) -> Result<ContactStatus, Refusal> {
        use ContactStatus::*;
        let ok = match (self, to) {
            (Identified, Notified) | (Notified, UnderQuarantine) | (Identified, UnderQuarantine) => true,
            (UnderQuarantine, Released) => true,
            (from, BecameCase | Lost) => from.open(),
            _ => false,
        };
        if ok { Ok(to) } else { Err(Refusal::StatusTransition) }
    }
}

words! {
    TaskKind { CoreInfo => "core_info", Report => "report", Notify => "notify", }
}

words! {
    /// Where a trajectory entry came from (`entered`: added by the tracer).
    PlaceKind {
        Checkpoint => "checkpoint",
        Venue => "venue",
        Sampling => "sampling",
        Household => "household",
        Entered => "entered",
    }
}

/// The look-back window of a case: from `lookback_days` before the onset (or the first
/// positive sample) until `now`.
pub fn window_start(anchor: NaiveDate, profile: &Profile) -> NaiveDate {
    anchor.checked_sub_days(chrono::Days::new(u64::from(profile.tracing.lookback_days))).unwrap_or(NaiveDate::MIN)
}

/// The instant the window starts (local midnight of its first day).
pub fn window_from(anchor: NaiveDate, profile: &Profile, offset: chrono::FixedOffset) -> DateTime<Utc> {
    crate::containment::local_instant(window_start(anchor, profile), chrono::NaiveTime::MIN, offset)
}

/// The tracer's tasks of a case created at `at`: kind and due time.
pub fn tasks_for(at: DateTime<Utc>, profile: &Profile) -> Vec<(TaskKind, DateTime<Utc>)> {
    let t = &profile.tracing;
    vec![
        (TaskKind::CoreInfo, at + Duration::hours(i64::from(t.core_info_hours))),
        (TaskKind::Report, at + Duration::hours(i64::from(t.report_hours))),
    ]
}

/// The due time of notifying a contact confirmed at `at`.
pub fn notify_due(at: DateTime<Utc>, profile: &Profile) -> DateTime<Utc> {
    at + Duration::hours(i64::from(profile.tracing.notify_hours))
}

/// Checks a contact's last exposure against `now` and the window start.
pub fn check_exposure(last: DateTime<Utc>, window_from: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Refusal> {
    if last > now {
        return Err(Refusal::ExposureInFuture);
    }
    if last < window_from {
        return Err(Refusal::ExposureBeforeWindow);
    }
    Ok(())
}

/// Checks an onset date against today (the district's date).
pub fn check_onset(onset: NaiveDate, today: NaiveDate) -> Result<(), Refusal> {
    if onset > today {
        return Err(Refusal::OnsetInFuture);
    }
    if (today - onset).num_days() > 30 {
        return Err(Refusal::OnsetTooOld);
    }
    Ok(())
}

/// Bounds of free text: `Err(r)` when `s` is longer than `max` characters.
pub fn bounded(s: &str, max: usize, r: Refusal) -> Result<(), Refusal> {
    if s.chars().count() > max { Err(r) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn profile(name: &str) -> Profile {
        Profile::shipped(name).unwrap().unwrap()
    }

    #[test]
    fn refusal_codes_are_unique_and_translated() {
        let mut codes = HashSet::new();
        for r in Refusal::ALL {
            assert!(codes.insert(r.code()), "{} twice", r.code());
            assert!(!r.zh().is_ascii() && !r.en().is_empty() && !r.field().is_empty(), "{r:?}");
        }
        // Not shared with containment's codes: one code means one thing.
        for r in crate::containment::Refusal::ALL {
            assert!(!codes.contains(r.code()), "{} is containment's", r.code());
        }
    }

    #[test]
    fn contact_status_machine() {
        use ContactStatus::*;
        let table = [
            (Identified, Notified, true),
            (Notified, UnderQuarantine, true),
            (Identified, UnderQuarantine, true),
            (UnderQuarantine, Released, true),
            (Identified, Released, false),
            (Notified, Identified, false),
            (Identified, Lost, true),
            (UnderQuarantine, BecameCase, true),
            (Released, BecameCase, false),
            (Lost, Notified, false),
            (BecameCase, Lost, false),
        ];
        for (from, to, ok) in table {
            assert_eq!(from.step(to).is_ok(), ok, "{from:?} → {to:?}");
        }
        assert_eq!(Released.step(Notified), Err(Refusal::StatusTransition));
    }

    #[test]
    fn classes_follow_the_profile() {
        let (p9, m20) = (profile("protocol-9"), profile("measures-20"));
        assert_eq!(Class::Secondary.under(&p9), Class::Secondary);
        assert_eq!(Class::Secondary.under(&m20), Class::General);
        assert_eq!(Class::Close.regime(&p9).unwrap().centralised_days, 7);
        assert_eq!(Class::Close.regime(&m20).unwrap().centralised_days, 5);
        assert_eq!(Class::Secondary.regime(&p9).unwrap().home_days, 7);
        assert!(Class::Secondary.regime(&m20).is_none());
        assert!(Class::General.regime(&p9).is_none());
        assert_eq!(Class::Close.colour_class(), Some(ContactClass::Close));
        assert_eq!(Class::General.colour_class(), None);
        assert!(p9.tracing.contacts_of_contacts && !m20.tracing.contacts_of_contacts);
    }

    #[test]
    fn window_tasks_and_exposure() {
        let p = profile("protocol-9");
        let onset = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        assert_eq!(window_start(onset, &p), NaiveDate::from_ymd_opt(2026, 3, 6).unwrap());
        let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let from = window_from(onset, &p, cst);
        assert_eq!(from.to_rfc3339(), "2026-03-05T16:00:00+00:00");
        let now = from + Duration::days(5);
        assert_eq!(check_exposure(from, from, now), Ok(()));
        assert_eq!(check_exposure(now, from, now), Ok(()));
        assert_eq!(check_exposure(from - Duration::seconds(1), from, now), Err(Refusal::ExposureBeforeWindow));
        assert_eq!(check_exposure(now + Duration::seconds(1), from, now), Err(Refusal::ExposureInFuture));
        let tasks = tasks_for(now, &p);
        assert_eq!(
            tasks,
            vec![(TaskKind::CoreInfo, now + Duration::hours(2)), (TaskKind::Report, now + Duration::hours(24))]
        );
        let m = profile("measures-20");
        assert_eq!(tasks_for(now, &m)[0].1, now + Duration::hours(4));
        assert_eq!(notify_due(now, &p), now + Duration::hours(4));
        let today = onset;
        assert_eq!(check_onset(today, today), Ok(()));
        assert_eq!(check_onset(today + chrono::Days::new(1), today), Err(Refusal::OnsetInFuture));
        assert_eq!(check_onset(today - chrono::Days::new(31), today), Err(Refusal::OnsetTooOld));
    }

    #[test]
    fn words_round_trip() {
        for c in Classification::ALL {
            assert_eq!(Classification::parse(c.as_str()), Some(*c));
        }
        assert_eq!(Classification::Asymptomatic.case_kind(), CaseKind::Asymptomatic);
        assert_eq!(Classification::Severe.case_kind(), CaseKind::Confirmed);
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(*s));
        }
        assert_eq!(Setting::parse("venue"), Some(Setting::Venue));
        assert_eq!(Class::parse("nope"), None);
    }
}
