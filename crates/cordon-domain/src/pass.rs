//! Passes (通行证) for essential workers and vehicles: holder (a resident or a plate),
//! purpose, the areas it opens, a validity window, who issued it, and revocation.
//!
//! Owns the checks of an issuance and of a pass at a checkpoint. Who may issue is
//! [`crate::authz::Action::IssuePass`] within the issuer's subtree; never reads the clock.

use crate::area::AreaCode;
use crate::error::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ref")]
pub enum Holder {
    /// A registered resident, by id.
    Person(i64),
    /// A vehicle, by plate (normalised: upper case, no spaces).
    Vehicle(String),
}

/// A vehicle plate: a province character, a letter, then 5 (or 6 for new-energy) letters
/// or digits. Spaces, dots and lower case are forgiven.
pub fn parse_plate(input: &str) -> Result<String, FieldError> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '·' && *c != '.' && *c != '-')
        .collect::<String>()
        .to_uppercase();
    let chars: Vec<char> = s.chars().collect();
    let ok = matches!(chars.len(), 7 | 8)
        && !chars[0].is_ascii()
        && chars[0].is_alphabetic()
        && chars[1].is_ascii_uppercase()
        && chars[2..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(s)
    } else {
        Err(FieldError::new(
            "plate_format",
            "plate",
            "车牌号格式错误（如 晋K·12345）",
            "invalid plate number (e.g. 晋K12345)",
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    pub id: i64,
    pub holder: Holder,
    /// Masked name of the person, or the plate: what a guard may see.
    pub holder_label: String,
    pub purpose: String,
    pub scope: Vec<AreaCode>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub issuer_id: i64,
    pub issuer: String,
    pub issued_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
}

/// Why a pass does not let someone through here now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PassProblem {
    Revoked,
    NotYetValid,
    Expired,
    OutOfScope,
}

impl PassProblem {
    pub fn code(self) -> &'static str {
        match self {
            PassProblem::Revoked => "pass_revoked",
            PassProblem::NotYetValid => "pass_not_yet_valid",
            PassProblem::Expired => "pass_expired",
            PassProblem::OutOfScope => "pass_out_of_scope",
        }
    }
    pub fn zh(self) -> &'static str {
        match self {
            PassProblem::Revoked => "通行证已吊销，禁止通行",
            PassProblem::NotYetValid => "通行证尚未生效，禁止通行",
            PassProblem::Expired => "通行证已过期，禁止通行",
            PassProblem::OutOfScope => "通行证不适用于本卡口，禁止通行",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            PassProblem::Revoked => "the pass has been revoked: refused",
            PassProblem::NotYetValid => "the pass is not valid yet: refused",
            PassProblem::Expired => "the pass has expired: refused",
            PassProblem::OutOfScope => "the pass does not cover this checkpoint: refused",
        }
    }
}

impl Pass {
    /// Does this pass open a checkpoint at `area` at `now`? A pass for a community opens
    /// every gate under it; the district border needs a pass for the district.
    pub fn check(&self, area: &AreaCode, now: DateTime<Utc>) -> Result<(), PassProblem> {
        if self.revoked_at.is_some_and(|r| r <= now) {
            return Err(PassProblem::Revoked);
        }
        if now < self.valid_from {
            return Err(PassProblem::NotYetValid);
        }
        if now >= self.valid_until {
            return Err(PassProblem::Expired);
        }
        if !self.scope.iter().any(|s| s.contains(area)) {
            return Err(PassProblem::OutOfScope);
        }
        Ok(())
    }
}

/// A checked issuance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPass {
    pub holder: Holder,
    pub holder_label: String,
    pub purpose: String,
    pub scope: Vec<AreaCode>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub issuer_id: i64,
    pub issuer: String,
    pub issued_at: DateTime<Utc>,
    /// The subtrees of the issuer's scope: a person pass's holder must live in one
    /// ([`NewPass::check_holder`], applied by the store in the issuing transaction).
    pub issuer_roots: Vec<AreaCode>,
}

/// Areas one pass may open at most (a pass names a few compounds or streets, never a list
/// of every building).
pub const MAX_SCOPE_AREAS: usize = 50;

impl NewPass {
    /// The holder rule: a person pass is issued only to a resident whose unit lies in the
    /// issuer's scope (`holder_unit`: the stored unit of the holder, `None` when there is
    /// no such resident). Refused as "no such resident", so an issuer learns nothing about
    /// people outside their scope.
    pub fn check_holder(&self, holder_unit: Option<&AreaCode>) -> Result<(), FieldError> {
        let Holder::Person(_) = self.holder else { return Ok(()) };
        match holder_unit {
            Some(unit) if self.issuer_roots.iter().any(|r| r.contains(unit)) => Ok(()),
            _ => Err(FieldError::new(
                "pass_holder_unknown",
                "resident_id",
                "您的管辖范围内没有该居民",
                "no such resident in your area",
            )),
        }
    }

    /// Checks a pass request; `longest_days` is the profile's longest validity
    /// ([`crate::policy::PassRules`]).
    pub fn check(self, longest_days: u32) -> Result<NewPass, FieldError> {
        let purpose = self.purpose.trim().to_string();
        if purpose.is_empty() || purpose.chars().count() > 200 {
            return Err(FieldError::new(
                "pass_purpose",
                "purpose",
                "请填写用途（最多200字）",
                "give a purpose (200 characters at most)",
            ));
        }
        if self.scope.is_empty() {
            return Err(FieldError::new("pass_scope", "scope", "请选择通行范围", "choose the areas the pass opens"));
        }
        if self.scope.len() > MAX_SCOPE_AREAS {
            return Err(FieldError::new(
                "pass_scope_size",
                "scope",
                format!("通行范围最多{MAX_SCOPE_AREAS}个区域"),
                format!("a pass opens {MAX_SCOPE_AREAS} areas at most"),
            ));
        }
        if purpose.chars().any(crate::security::is_forbidden_char) {
            return Err(FieldError::new(
                "text_chars",
                "purpose",
                "用途含有不可见字符或控制字符",
                "the purpose contains invisible or control characters",
            ));
        }
        if self.valid_until <= self.valid_from {
            return Err(FieldError::new(
                "pass_window",
                "valid_until",
                "有效期结束时间应晚于开始时间",
                "the pass must end after it starts",
            ));
        }
        if self.valid_until - self.valid_from > chrono::Duration::days(i64::from(longest_days)) {
            return Err(FieldError::new(
                "pass_window_long",
                "valid_until",
                format!("有效期最长{longest_days}天"),
                format!("a pass is valid for {longest_days} days at most"),
            ));
        }
        Ok(NewPass { purpose, ..self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 4, 10, 6, 0, 0).unwrap()
    }

    fn pass() -> Pass {
        Pass {
            id: 1,
            holder: Holder::Vehicle("晋K12345".into()),
            holder_label: "晋K12345".into(),
            purpose: "生活物资配送".into(),
            scope: vec![AreaCode::parse("141102001001").unwrap()],
            valid_from: now() - Duration::hours(1),
            valid_until: now() + Duration::days(1),
            issuer_id: 1,
            issuer: "commander".into(),
            issued_at: now(),
            revoked_at: None,
            revoked_by: None,
            revoke_reason: None,
        }
    }

    #[test]
    fn validity_table() {
        let gate = AreaCode::parse("141102001001002").unwrap();
        let elsewhere = AreaCode::parse("141102002001002").unwrap();
        let border = AreaCode::parse("141102").unwrap();
        let p = pass();
        assert_eq!(p.check(&gate, now()), Ok(()));
        assert_eq!(p.check(&elsewhere, now()), Err(PassProblem::OutOfScope));
        assert_eq!(p.check(&border, now()), Err(PassProblem::OutOfScope));
        assert_eq!(p.check(&gate, now() - Duration::hours(2)), Err(PassProblem::NotYetValid));
        assert_eq!(p.check(&gate, now() + Duration::days(1)), Err(PassProblem::Expired));
        let r = Pass { revoked_at: Some(now() - Duration::minutes(1)), ..pass() };
        assert_eq!(r.check(&gate, now()), Err(PassProblem::Revoked));
        let d = Pass { scope: vec![border.clone()], ..pass() };
        assert_eq!(d.check(&border, now()), Ok(()));
    }

    #[test]
    fn plates_and_issuance() {
        assert_eq!(parse_plate("晋k·12345").unwrap(), "晋K12345");
        assert_eq!(parse_plate("京AD12345").unwrap(), "京AD12345");
        assert!(parse_plate("AB12345").is_err());
        assert!(parse_plate("晋K12").is_err());
        let new = |from: DateTime<Utc>, until: DateTime<Utc>, purpose: &str| NewPass {
            holder: Holder::Person(1),
            holder_label: "张*明".into(),
            purpose: purpose.into(),
            scope: vec![AreaCode::parse("141102").unwrap()],
            valid_from: from,
            valid_until: until,
            issuer_id: 1,
            issuer: "c".into(),
            issued_at: now(),
            issuer_roots: vec![AreaCode::parse("141102001").unwrap()],
        };
        assert!(new(now(), now() + Duration::days(3), "医护").check(31).is_ok());
        let p = new(now(), now() + Duration::days(3), "医护");
        let inside = AreaCode::parse("141102001001001").unwrap();
        let outside = AreaCode::parse("141102002001001").unwrap();
        assert!(p.check_holder(Some(&inside)).is_ok());
        assert_eq!(p.check_holder(Some(&outside)).unwrap_err().code, "pass_holder_unknown");
        assert_eq!(p.check_holder(None).unwrap_err().code, "pass_holder_unknown");
        let vehicle = NewPass { holder: Holder::Vehicle("晋K12345".into()), ..p.clone() };
        assert!(vehicle.check_holder(None).is_ok(), "a vehicle has no home");
        let wide = NewPass { scope: vec![AreaCode::parse("141102").unwrap(); MAX_SCOPE_AREAS + 1], ..p.clone() };
        assert_eq!(wide.check(31).unwrap_err().code, "pass_scope_size");
        assert_eq!(new(now(), now() + Duration::days(1), "医\u{202E}护").check(31).unwrap_err().code, "text_chars");
        assert_eq!(new(now(), now(), "医护").check(31).unwrap_err().code, "pass_window");
        assert_eq!(new(now(), now() + Duration::days(40), "医护").check(31).unwrap_err().code, "pass_window_long");
        assert!(new(now(), now() + Duration::days(40), "医护").check(60).is_ok(), "the profile's longest validity");
        assert_eq!(new(now(), now() + Duration::days(1), " ").check(31).unwrap_err().code, "pass_purpose");
    }
}
