//! Personal names as written on the ID card, and their masked form for gates.

use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str) -> Result<PersonName, FieldError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(FieldError::new("name_missing", "name", "姓名不能为空", "name is required"));
        }
        if s.chars().count() > 40 {
            return Err(FieldError::new(
                "name_length",
                "name",
                "姓名过长（最多40字）",
                "name is too long (40 characters at most)",
            ));
        }
        // Control characters, digits, and bidirectional or zero-width characters (which
        // would show a name as another).
        if s.chars().any(|c| crate::security::is_forbidden_char(c) || c.is_ascii_digit()) {
            return Err(FieldError::new("name_chars", "name", "姓名含有无效字符", "name contains invalid characters"));
        }
        Ok(PersonName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 张*明 / 张* / 欧**华: first and last character kept, the middle starred.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        match chars.len() {
            0 => String::new(),
            1 => "*".to_string(),
            2 => format!("{}*", chars[0]),
            n => {
                let mut s = String::new();
                s.push(chars[0]);
                for _ in 1..n - 1 {
                    s.push('*');
                }
                s.push(chars[n - 1]);
                s
            }
        }
    }
}

impl TryFrom<String> for PersonName {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        PersonName::parse(&s)
    }
}

impl From<PersonName> for String {
    fn from(v: PersonName) -> String {
        v.0
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidirectional_overrides_are_refused() {
        for evil in ["张\u{202E}三", "\u{2067}李四", "王\u{200B}五", "赵\u{200F}六"] {
            assert_eq!(PersonName::parse(evil).unwrap_err().code, "name_chars", "{evil:?}");
        }
    }

    #[test]
    fn masks() {
        assert_eq!(PersonName::parse("张三明").unwrap().masked(), "张*明");
        assert_eq!(PersonName::parse("张三").unwrap().masked(), "张*");
        assert_eq!(PersonName::parse("欧阳建华").unwrap().masked(), "欧**华");
    }

    #[test]
    fn rejects() {
        assert_eq!(PersonName::parse("  ").unwrap_err().code, "name_missing");
        assert_eq!(PersonName::parse("张3").unwrap_err().code, "name_chars");
    }
}
