//! Containment (封控、隔离、转运): risk zones on the policy's clock, quarantine sites and
//! rooms, quarantine orders with their test days and release, room assignment that
//! prevents cross-infection, closed-loop transfer, and the KPIs of all of it.
//!
//! Pure: every function takes the facts, the profile and the time it needs (`now`, a
//! local date, the district's UTC offset) and returns effects or a refusal. Never reads
//! the clock, never does IO; the store fetches the facts and writes the effects
//! (`cordon_store::containment`). Every number comes from the profile
//! ([`crate::policy::ZoneRules`], [`crate::policy::QuarantineRules`],
//! [`crate::policy::TransferRules`], the regimes).
//!
//! Refusals are [`Refusal`] values: a code that is not listed there cannot be written,
//! and each carries its field and its Chinese and English text.

pub mod assign;
pub mod kpi;
pub mod quarantine;
pub mod transfer;
pub mod zoneclock;

use crate::error::FieldError;
use chrono::{DateTime, Days, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

crate::error::refusal_enum! {
    /// Every refusal of the containment capability: stable code, the field it is about,
    /// and its text in both languages.

    ZoneAreaUnknown => ("zone_area_unknown", "area_code", "未找到该区域", "no such area"),
    ZoneLevelNotInProfile => ("zone_level_profile", "level", "当前防控策略不设此等级的风险区", "the active policy has no zones of this level"),
    ZoneUnknown => ("zone_unknown", "zone", "未找到该风险区", "no such risk zone"),
    ZoneEnded => ("zone_ended", "zone", "该风险区已解除或已调整", "this zone has already been lifted or changed"),
    ProposalUnknown => ("zone_proposal_unknown", "proposal", "未找到该风险区建议", "no such zone proposal"),
    ProposalDecided => ("zone_proposal_decided", "proposal", "该建议已处理", "this proposal has already been decided"),
    WidenNotAncestor => ("zone_widen_area", "area_code", "扩大范围应选择包含建议区域的上级区域", "to widen, choose an area that contains the proposed one"),
    NarrowNotInside => ("zone_narrow_area", "area_code", "缩小范围应选择建议区域内、包含病例住址的区域", "to narrow, choose an area inside the proposed one that contains the case's home"),
    SiteName => ("site_name", "name", "请填写隔离点名称（最多80字）", "name the site (80 characters at most)"),
    SiteAddress => ("site_address", "address", "请填写隔离点地址（最多200字）", "give the site's address (200 characters at most)"),
    SiteManager => ("site_manager", "manager", "请填写负责人（最多40字）", "name the manager (40 characters at most)"),
    SiteCategories => ("site_categories", "categories", "请至少选择一类接收人员", "choose at least one category of people the site takes"),
    SiteCasesElsewhere => ("site_cases", "categories", "病例只能收治在方舱，且不与隔离人员同场所", "cases go only to a shelter hospital (方舱), never together with people in quarantine"),
    SiteUnknown => ("site_unknown", "site", "未找到该隔离点", "no such quarantine site"),
    SiteFull => ("site_full", "site", "隔离点已满，没有可用的房间", "the site is full: no room is available"),
    SiteRefusesCategory => ("site_category", "site", "该隔离点不接收此类人员", "this site does not take people of this category"),
    RoomNumber => ("room_number", "number", "房间号为1至12位数字、字母或-", "a room number is 1 to 12 digits, letters or -"),
    RoomFloor => ("room_floor", "floor", "楼层应在-5至200之间", "the floor must be between -5 and 200"),
    RoomBeds => ("room_beds", "beds", "床位数应在1至20之间", "a room has 1 to 20 beds"),
    RoomDuplicate => ("room_duplicate", "number", "该隔离点已有此房间号", "the site already has a room with this number"),
    RoomUnknown => ("room_unknown", "room", "未找到该房间", "no such room"),
    RoomOverCapacity => ("room_over_capacity", "room", "房间床位已满", "the room has no bed left"),
    RoomNotAvailable => ("room_not_available", "room", "房间正在消杀或停用，不能入住", "the room is being cleaned or out of service"),
    RoomCategoryMixed => ("room_category_mixed", "room", "不同类别人员不能同住一间（防止交叉感染）", "people of different categories never share a room (cross-infection)"),
    RoomHouseholdOnly => ("room_household_only", "room", "只有同户人员可以同住一间", "only members of one household share a room"),
    RoomSingle => ("room_single", "room", "单人单间，该房间已有人", "one person per room: this room is taken"),
    FloorCategoryMixed => ("floor_category_mixed", "room", "同一楼层不能安排不同类别人员", "people of different categories never share a floor"),
    RoomTransition => ("room_state", "state", "房间当前状态下不能进行此操作", "the room's state does not allow this"),
    RoomOccupied => ("room_occupied", "state", "房间内有人，不能停用或消杀", "people are in the room: it cannot be cleaned or taken out of service"),
    CaseNotInQuarantine => ("case_not_quarantined", "category", "病例应转运至定点医院或方舱，不进入隔离点", "a case goes to a hospital or shelter hospital, never to a quarantine site"),
    ContactUnknown => ("contact_unknown", "contact", "待隔离名单中没有该接触者", "this contact is not in the to-isolate queue"),
    ContactOrdered => ("contact_ordered", "contact", "该接触者已开具隔离通知", "an order was already issued for this contact"),
    OrderOpen => ("order_open", "person", "此人已有未结束的隔离", "this person already has an open quarantine order"),
    OrderUnknown => ("order_unknown", "order", "未找到该隔离通知", "no such quarantine order"),
    OrderClosed => ("order_closed", "order", "该隔离已结束", "this quarantine order is closed"),
    OrderTransition => ("order_state", "order", "隔离当前状态下不能进行此操作", "the order's state does not allow this"),
    NoRegime => ("order_regime", "category", "当前防控策略对此类人员没有隔离要求", "the active policy has no quarantine regime for this category"),
    ExposureInFuture => ("exposure_future", "last_exposure", "末次暴露时间不能晚于现在", "the last exposure cannot be in the future"),
    ExposureTooOld => ("exposure_old", "last_exposure", "按末次暴露时间计算，隔离期已满", "counted from the last exposure, the quarantine period is already over"),
    PersonName => ("person_name", "name", "请填写姓名", "give the person's name"),
    PersonIdentity => ("person_identity", "id_number", "外来人员须填写身份证号", "a person not on the register needs an ID number"),
    PersonAddress => ("person_address", "address", "请填写住址（最多200字）", "give an address (200 characters at most)"),
    ArrivalReason => ("arrival_reason", "reason", "请填写来源地或理由（最多200字）", "say where the person arrived from (200 characters at most)"),
    ReleaseTooEarly => ("release_early", "order", "隔离期未满，不能解除", "the quarantine days are not over yet"),
    ReleaseTestMissing => ("release_test_missing", "tests", "有核酸检测结果缺失，不能解除", "a scheduled test has no result: no release"),
    ReleaseTestPositive => ("release_test_positive", "tests", "有核酸检测结果为阳性，不能解除", "a scheduled test is positive: no release"),
    ReleaseTestUnresolved => ("release_test_unresolved", "tests", "有核酸检测待复核（混管阳性或无效），不能解除", "a scheduled test awaits a retest (positive pool or invalid): no release"),
    Temperature => ("temperature", "temperature", "体温应在34.0至43.0℃之间", "the temperature must be between 34.0 and 43.0 °C"),
    HealthNote => ("health_note", "note", "备注最多200字", "a note is 200 characters at most"),
    Plate => ("plate_format", "plate", "车牌号格式错误（如 晋K·12345）", "invalid plate number (e.g. 晋K12345)"),
    Driver => ("driver", "driver", "请填写驾驶员（最多40字）", "name the driver (40 characters at most)"),
    Team => ("team", "team", "请填写转运专班（最多80字）", "name the transfer team (80 characters at most)"),
    Seats => ("seats", "seats", "座位数应在1至60之间", "a vehicle has 1 to 60 seats"),
    SeatsExceeded => ("seats_exceeded", "orders", "人数超过车辆座位数", "more people than the vehicle has seats"),
    TooManyHouseholds => ("vehicle_households", "orders", "一车载运的户数超过防控策略的上限", "more households than the policy allows in one vehicle"),
    VehicleCategoriesMixed => ("vehicle_categories", "orders", "不同类别人员不能同车转运", "people of different categories never share a vehicle"),
    NothingToDispatch => ("dispatch_empty", "orders", "请选择待转运人员", "choose the people to transfer"),
    NotCentralised => ("transfer_home", "order", "居家隔离人员无需转运", "a person in home quarantine is not transferred"),
    TransferNotRequested => ("transfer_not_requested", "order", "此人不在待转运名单中（已派车或已到达）", "this person is not waiting for a transfer (already dispatched or arrived)"),
    RunUnknown => ("run_unknown", "run", "未找到该转运任务", "no such transfer run"),
    RunClosed => ("run_closed", "run", "该转运任务已结束", "this transfer run is over"),
    NotOnTransfer => ("not_on_transfer", "person", "此人不在本车转运名单中", "this person is not on this transfer"),
    NotPickedUp => ("not_picked_up", "person", "此人尚未接上车", "this person has not been picked up"),
    AlreadyArrived => ("already_arrived", "person", "此人已到达隔离点", "this person has already arrived"),
    RoomMissing => ("room_missing", "room", "请为此人安排房间", "assign this person a room"),
    PersonTwice => ("person_twice", "orders", "同一人填写了两次", "the same person is listed twice"),
    AssignedElsewhere => ("assigned_elsewhere", "site", "此人已安排至其他隔离点", "this person is assigned to another site"),
    ResidentUnknown => ("resident_unknown", "resident", "未找到该居民", "no such resident"),
}

impl Refusal {
    /// The refusal with a detail appended to both messages (e.g. which test day).
    pub fn detail(self, zh: impl AsRef<str>, en: impl AsRef<str>) -> FieldError {
        FieldError::new(
            self.code(),
            self.field(),
            format!("{}：{}", self.zh(), zh.as_ref()),
            format!("{}: {}", self.en(), en.as_ref()),
        )
    }
}

/// The local calendar date of `t` in the district's time zone.
pub fn local_date(t: DateTime<Utc>, offset: FixedOffset) -> NaiveDate {
    t.with_timezone(&offset).date_naive()
}

/// The instant of `time` on local `date`.
pub fn local_instant(date: NaiveDate, time: NaiveTime, offset: FixedOffset) -> DateTime<Utc> {
    offset
        .from_local_datetime(&date.and_time(time))
        .single()
        .map_or_else(|| date.and_time(time).and_utc(), |t| t.with_timezone(&Utc))
}

/// The first local date that begins at or after `t`: the first day a clock started at
/// `t` can count whole.
pub fn first_whole_day(t: DateTime<Utc>, offset: FixedOffset) -> NaiveDate {
    let local = t.with_timezone(&offset);
    let date = local.date_naive();
    if local.time() == NaiveTime::MIN { date } else { add_days(date, 1) }
}

/// `date` plus `n` days (saturating at the calendar's end).
pub fn add_days(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_add_days(Days::new(u64::from(n))).unwrap_or(NaiveDate::MAX)
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn refusal_codes_are_unique_and_translated() {
        let mut codes = HashSet::new();
        for r in Refusal::ALL {
            assert!(codes.insert(r.code()), "{} twice", r.code());
            assert!(!r.zh().is_empty() && !r.en().is_empty() && !r.field().is_empty(), "{r:?}");
            assert!(!r.zh().is_ascii(), "{r:?} has no Chinese text");
        }
        let e = Refusal::ReleaseTestMissing.detail("第3天", "day 3");
        assert_eq!((e.code, e.field), ("release_test_missing", "tests"));
        assert!(e.zh.ends_with("：第3天") && e.en.ends_with(": day 3"));
    }

    #[test]
    fn local_days() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let midnight = local_instant(d, NaiveTime::MIN, cst);
        assert_eq!(midnight.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        assert_eq!(local_date(midnight, cst), d);
        assert_eq!(first_whole_day(midnight, cst), d);
        assert_eq!(first_whole_day(midnight + chrono::Duration::seconds(1), cst), add_days(d, 1));
        assert_eq!(days_between(d, add_days(d, 7)), 7);
    }
}
