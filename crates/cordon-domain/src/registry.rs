//! The population register (人口底数): households, residents, grids, building leaders,
//! and the corrections building leaders make to it.

use crate::area::AreaCode;
use crate::error::FieldError;
use crate::id_number::{IdNumber, Sex};
use crate::name::PersonName;
use crate::phone::Phone;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentFlags {
    pub bedridden: bool,
    pub no_smartphone: bool,
    /// Temporary resident or visiting relative (临时居住/探亲).
    pub temporary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidentStatus {
    Active,
    MovedOut,
}

impl ResidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResidentStatus::Active => "active",
            ResidentStatus::MovedOut => "moved_out",
        }
    }
    pub fn parse(s: &str) -> ResidentStatus {
        if s == "moved_out" { ResidentStatus::MovedOut } else { ResidentStatus::Active }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Household {
    pub id: i64,
    pub unit: AreaCode,
    /// Room number as written on the door, e.g. `1203`.
    pub room: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resident {
    pub id: i64,
    pub household_id: i64,
    pub unit: AreaCode,
    pub room: String,
    pub name: PersonName,
    pub id_number: IdNumber,
    pub phone: Option<Phone>,
    pub flags: ResidentFlags,
    pub status: ResidentStatus,
}

/// Whole years between `birth` and `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> u32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age.max(0) as u32
}

impl Resident {
    pub fn sex(&self) -> Sex {
        self.id_number.sex()
    }
    pub fn birth_date(&self) -> NaiveDate {
        self.id_number.birth_date()
    }
    pub fn age(&self, today: NaiveDate) -> u32 {
        age_on(self.birth_date(), today)
    }
    /// At least `elderly_age` (the profile's, [`crate::policy::TestingRules`]) on `today`:
    /// derived, never stored, so it cannot go stale.
    pub fn is_elderly(&self, today: NaiveDate, elderly_age: u32) -> bool {
        self.age(today) >= elderly_age
    }
    /// Needs sampling at the door and a printed code card.
    pub fn needs_door_service(&self, today: NaiveDate, elderly_age: u32) -> bool {
        self.flags.bedridden || self.flags.no_smartphone || self.is_elderly(today, elderly_age)
    }
}

/// A resident to be registered, already validated. The household is found or created
/// from (unit, room).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewResident {
    pub unit: AreaCode,
    pub room: String,
    pub name: PersonName,
    pub id_number: IdNumber,
    pub phone: Option<Phone>,
    pub flags: ResidentFlags,
}

/// Validates a room number: 1–12 characters of digits, letters or `-`.
pub fn parse_room(input: &str) -> Result<String, FieldError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(FieldError::new("room_missing", "room", "房号不能为空", "room number is required"));
    }
    if s.chars().count() > 12 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(FieldError::new(
            "room_format",
            "room",
            "房号只能包含数字、字母和-（最多12位）",
            "room number may contain only digits, letters and - (12 at most)",
        ));
    }
    Ok(s.to_string())
}

/// A correction to one resident, made by a building leader or a community worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Correction {
    /// Moved out of the district (搬离); kept for history, no longer counted.
    MovedOut,
    /// Back (or registered by mistake as moved out).
    Returned,
    /// Mark or unmark as temporary resident / visiting relative.
    SetTemporary {
        temporary: bool,
    },
    /// New mobile number, or none.
    SetPhone {
        phone: Option<Phone>,
    },
    SetFlags {
        bedridden: bool,
        no_smartphone: bool,
    },
}

impl Correction {
    pub fn code(&self) -> &'static str {
        match self {
            Correction::MovedOut => "moved_out",
            Correction::Returned => "returned",
            Correction::SetTemporary { .. } => "set_temporary",
            Correction::SetPhone { .. } => "set_phone",
            Correction::SetFlags { .. } => "set_flags",
        }
    }

    /// Applies the correction to a copy of the resident.
    pub fn apply(&self, r: &Resident) -> Resident {
        let mut r = r.clone();
        match self {
            Correction::MovedOut => r.status = ResidentStatus::MovedOut,
            Correction::Returned => r.status = ResidentStatus::Active,
            Correction::SetTemporary { temporary } => r.flags.temporary = *temporary,
            Correction::SetPhone { phone } => r.phone = phone.clone(),
            Correction::SetFlags { bedridden, no_smartphone } => {
                r.flags.bedridden = *bedridden;
                r.flags.no_smartphone = *no_smartphone;
            }
        }
        r
    }

    /// Audit detail without personal identifiers (a phone change says only that).
    pub fn audit_detail(&self) -> String {
        match self {
            Correction::MovedOut => "status -> moved_out".into(),
            Correction::Returned => "status -> active".into(),
            Correction::SetTemporary { temporary } => format!("temporary -> {temporary}"),
            Correction::SetPhone { phone } => {
                format!("phone -> {}", phone.as_ref().map(|p| p.masked()).unwrap_or_else(|| "none".into()))
            }
            Correction::SetFlags { bedridden, no_smartphone } => {
                format!("bedridden -> {bedridden}, no_smartphone -> {no_smartphone}")
            }
        }
    }
}

/// A grid (网格): a set of buildings of one community, with its grid worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    pub id: i64,
    pub community: AreaCode,
    pub name: String,
    pub buildings: Vec<AreaCode>,
    pub worker_name: String,
    pub worker_phone: Option<Phone>,
}

/// The building leader (楼长) of a building: a resident of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildingLeader {
    pub building: AreaCode,
    pub resident_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_flags() {
        let birth = NaiveDate::from_ymd_opt(1946, 6, 1).unwrap();
        assert_eq!(age_on(birth, NaiveDate::from_ymd_opt(2026, 5, 31).unwrap()), 79);
        assert_eq!(age_on(birth, NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()), 80);
    }

    #[test]
    fn rooms() {
        assert_eq!(parse_room(" 1203 ").unwrap(), "1203");
        assert_eq!(parse_room("").unwrap_err().code, "room_missing");
        assert_eq!(parse_room("12 03").unwrap_err().code, "room_format");
    }
}
