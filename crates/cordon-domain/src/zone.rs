//! Risk zones (风险区): a level designated on a unit, building, compound or community,
//! from a start time, with a reason. A new designation of the same area ends the previous
//! one, so the history is the list of designations with their ends.
//!
//! Owns the levels and the checks of a designation; never reads the clock (the zone clock
//! that steps zones down lives in [`crate::policy::Profile::zone_step`], fed by callers).

use crate::area::{AreaCode, AreaLevel};
use crate::error::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneLevel {
    Low,
    Medium,
    High,
}

impl ZoneLevel {
    pub const ALL: [ZoneLevel; 3] = [ZoneLevel::High, ZoneLevel::Medium, ZoneLevel::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            ZoneLevel::Low => "low",
            ZoneLevel::Medium => "medium",
            ZoneLevel::High => "high",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            ZoneLevel::Low => "低风险区",
            ZoneLevel::Medium => "中风险区",
            ZoneLevel::High => "高风险区",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            ZoneLevel::Low => "low-risk zone",
            ZoneLevel::Medium => "medium-risk zone",
            ZoneLevel::High => "high-risk zone",
        }
    }

    pub fn parse(s: &str) -> Result<ZoneLevel, FieldError> {
        ZoneLevel::ALL.into_iter().find(|l| l.as_str() == s.trim()).ok_or_else(|| {
            FieldError::new("zone_level", "level", "风险等级应为高、中或低", "the level must be high, medium or low")
        })
    }
}

/// A designation as stored. `ends_at` is set when a later designation of the same area
/// replaced it (or it was lifted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskZone {
    pub id: i64,
    pub area: AreaCode,
    pub level: ZoneLevel,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub designated_by: String,
    pub created_at: DateTime<Utc>,
}

impl RiskZone {
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && self.ends_at.is_none_or(|e| e > now)
    }
}

/// A checked request to designate a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewZone {
    pub area: AreaCode,
    pub level: ZoneLevel,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub designated_by: String,
    pub created_at: DateTime<Utc>,
}

impl NewZone {
    pub fn new(
        area: AreaCode,
        level: ZoneLevel,
        reason: &str,
        starts_at: DateTime<Utc>,
        designated_by: &str,
        now: DateTime<Utc>,
    ) -> Result<NewZone, FieldError> {
        if !matches!(area.level(), AreaLevel::Community | AreaLevel::Compound | AreaLevel::Building | AreaLevel::Unit) {
            return Err(FieldError::new(
                "zone_area_level",
                "area_code",
                "风险区只能划定到社区、小区、楼栋或单元",
                "a zone is a community, compound, building or unit",
            ));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(FieldError::new(
                "zone_reason",
                "reason",
                "请填写划定理由（最多200字）",
                "give a reason (200 characters at most)",
            ));
        }
        Ok(NewZone {
            area,
            level,
            reason: reason.to_string(),
            starts_at,
            designated_by: designated_by.to_string(),
            created_at: now,
        })
    }
}

/// The zone a resident of `unit` is in at `now`: the highest level among the active
/// designations of the unit and its ancestors (a building inside a high-risk compound is
/// high even if the building itself was designated medium).
pub fn zone_of<'a>(unit: &AreaCode, zones: &'a [RiskZone], now: DateTime<Utc>) -> Option<&'a RiskZone> {
    zones.iter().filter(|z| z.area.contains(unit) && z.active_at(now)).max_by_key(|z| (z.level, z.area.as_str().len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn z(id: i64, area: &str, level: ZoneLevel, start_h: u32, end_h: Option<u32>) -> RiskZone {
        let at = |h| Utc.with_ymd_and_hms(2022, 4, 1, h, 0, 0).unwrap();
        RiskZone {
            id,
            area: AreaCode::parse(area).unwrap(),
            level,
            reason: "r".into(),
            starts_at: at(start_h),
            ends_at: end_h.map(at),
            designated_by: "c".into(),
            created_at: at(0),
        }
    }

    #[test]
    fn highest_active_zone_on_the_lineage_wins() {
        let unit = AreaCode::parse("14110200100100100102").unwrap();
        let at = |h| Utc.with_ymd_and_hms(2022, 4, 1, h, 0, 0).unwrap();
        let zones = vec![
            z(1, "141102001001001001", ZoneLevel::Medium, 1, None),
            z(2, "141102001001001", ZoneLevel::High, 5, Some(9)),
            z(3, "141102001001002", ZoneLevel::High, 1, None),
        ];
        assert_eq!(zone_of(&unit, &zones, at(0)), None);
        assert_eq!(zone_of(&unit, &zones, at(2)).map(|z| z.id), Some(1));
        assert_eq!(zone_of(&unit, &zones, at(6)).map(|z| z.id), Some(2));
        assert_eq!(zone_of(&unit, &zones, at(9)).map(|z| z.id), Some(1));
    }

    #[test]
    fn checks_designations() {
        let now = Utc::now();
        let district = AreaCode::parse("141102").unwrap();
        assert_eq!(NewZone::new(district, ZoneLevel::High, "x", now, "c", now).unwrap_err().code, "zone_area_level");
        let b = AreaCode::parse("141102001001001001").unwrap();
        assert_eq!(NewZone::new(b.clone(), ZoneLevel::High, "  ", now, "c", now).unwrap_err().code, "zone_reason");
        assert!(NewZone::new(b, ZoneLevel::High, "病例居住", now, "c", now).is_ok());
        assert_eq!(ZoneLevel::parse("high").unwrap(), ZoneLevel::High);
        assert!(ZoneLevel::parse("extreme").is_err());
    }
}
