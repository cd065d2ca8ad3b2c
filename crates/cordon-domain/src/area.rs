//! The area tree: district › street/town › community/village › compound › building › unit.
//!
//! Area codes are hierarchical strings of digits: a child's code starts with its parent's
//! code. That makes "is X inside Y" a prefix test and "everything under Y" a range scan
//! (`code >= Y AND code < Y + ":"`), which is what scoping every role to its subtree needs.
//!
//! | level     | digits | example                |
//! |-----------|--------|------------------------|
//! | district  | 6      | `141102`               |
//! | street    | 9      | `141102001`            |
//! | community | 12     | `141102001003`         |
//! | compound  | 15     | `141102001003002`      |
//! | building  | 18     | `141102001003002012`   |
//! | unit      | 20     | `14110200100300201203` |

use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaLevel {
    District,
    Street,
    Community,
    Compound,
    Building,
    Unit,
}

impl AreaLevel {
    pub const ALL: [AreaLevel; 6] = [
        AreaLevel::District,
        AreaLevel::Street,
        AreaLevel::Community,
        AreaLevel::Compound,
        AreaLevel::Building,
        AreaLevel::Unit,
    ];

    pub fn code_len(self) -> usize {
        match self {
            AreaLevel::District => 6,
            AreaLevel::Street => 9,
            AreaLevel::Community => 12,
            AreaLevel::Compound => 15,
            AreaLevel::Building => 18,
            AreaLevel::Unit => 20,
        }
    }

    pub fn from_code_len(len: usize) -> Option<AreaLevel> {
        AreaLevel::ALL.into_iter().find(|l| l.code_len() == len)
    }

    pub fn child(self) -> Option<AreaLevel> {
        match self {
            AreaLevel::District => Some(AreaLevel::Street),
            AreaLevel::Street => Some(AreaLevel::Community),
            AreaLevel::Community => Some(AreaLevel::Compound),
            AreaLevel::Compound => Some(AreaLevel::Building),
            AreaLevel::Building => Some(AreaLevel::Unit),
            AreaLevel::Unit => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AreaLevel::District => "district",
            AreaLevel::Street => "street",
            AreaLevel::Community => "community",
            AreaLevel::Compound => "compound",
            AreaLevel::Building => "building",
            AreaLevel::Unit => "unit",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            AreaLevel::District => "区",
            AreaLevel::Street => "街道/乡镇",
            AreaLevel::Community => "社区/村",
            AreaLevel::Compound => "小区",
            AreaLevel::Building => "楼栋",
            AreaLevel::Unit => "单元",
        }
    }
}

/// A valid area code; its level follows from its length.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AreaCode(String);

impl AreaCode {
    pub fn parse(input: &str) -> Result<AreaCode, FieldError> {
        let s = input.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || AreaLevel::from_code_len(s.len()).is_none() {
            return Err(FieldError::new(
                "area_code_format",
                "area_code",
                "区域编码格式错误（应为6、9、12、15、18或20位数字）",
                "area code must be 6, 9, 12, 15, 18 or 20 digits",
            ));
        }
        Ok(AreaCode(s.to_string()))
    }

    /// The code of the `n`-th (1-based) child of this area.
    pub fn child(&self, n: u32) -> Option<AreaCode> {
        let level = self.level().child()?;
        let width = level.code_len() - self.0.len();
        if n == 0 || u64::from(n) >= 10u64.pow(width as u32) {
            return None;
        }
        Some(AreaCode(format!("{}{n:0width$}", self.0)))
    }

    pub fn level(&self) -> AreaLevel {
        AreaLevel::from_code_len(self.0.len()).unwrap_or(AreaLevel::Unit)
    }

    pub fn parent(&self) -> Option<AreaCode> {
        let idx = AreaLevel::ALL.iter().position(|l| *l == self.level())?;
        let parent = AreaLevel::ALL.get(idx.checked_sub(1)?)?;
        Some(AreaCode(self.0[..parent.code_len()].to_string()))
    }

    /// This code and every ancestor, from the district down.
    pub fn lineage(&self) -> Vec<AreaCode> {
        AreaLevel::ALL
            .iter()
            .filter(|l| l.code_len() <= self.0.len())
            .map(|l| AreaCode(self.0[..l.code_len()].to_string()))
            .collect()
    }

    /// True when `other` is this area or lies below it.
    pub fn contains(&self, other: &AreaCode) -> bool {
        other.0.starts_with(&self.0)
    }

    /// Exclusive upper bound of the subtree's codes for a range scan (`':'` sorts right
    /// after `'9'`).
    pub fn range_end(&self) -> String {
        format!("{}:", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AreaCode {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        AreaCode::parse(&s)
    }
}

impl From<AreaCode> for String {
    fn from(v: AreaCode) -> String {
        v.0
    }
}

impl fmt::Debug for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AreaCode({})", self.0)
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node of the area tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    pub code: AreaCode,
    pub name: String,
}

impl Area {
    pub fn level(&self) -> AreaLevel {
        self.code.level()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy() {
        let d = AreaCode::parse("141102").unwrap();
        let s = d.child(1).unwrap();
        assert_eq!(s.as_str(), "141102001");
        let u = s.child(3).unwrap().child(2).unwrap().child(12).unwrap().child(3).unwrap();
        assert_eq!(u.as_str(), "14110200100300201203");
        assert_eq!(u.level(), AreaLevel::Unit);
        assert!(d.contains(&u) && s.contains(&u));
        assert!(!AreaCode::parse("141102002").unwrap().contains(&u));
        assert_eq!(u.parent().unwrap().as_str(), "141102001003002012");
        assert_eq!(u.lineage().len(), 6);
        assert!(d.parent().is_none());
        assert!(u.child(1).is_none());
        assert!(u.as_str() < d.range_end().as_str());
    }

    #[test]
    fn rejects_bad_codes() {
        for bad in ["", "14110", "1411020011", "14110a", "x"] {
            assert_eq!(AreaCode::parse(bad).unwrap_err().code, "area_code_format", "{bad}");
        }
    }
}
