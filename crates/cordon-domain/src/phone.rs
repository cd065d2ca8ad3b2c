//! Mainland mobile numbers: eleven digits starting with 1 and a second digit 3–9.

use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Accepts spaces, dashes, full-width digits and a `+86`/`86` prefix.
    pub fn parse(input: &str) -> Result<Phone, FieldError> {
        let mut s = String::with_capacity(11);
        for c in input.trim().chars() {
            match c {
                '０'..='９' => s.push(char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c)),
                '0'..='9' => s.push(c),
                ' ' | '-' | '　' | '+' => {}
                _ => {
                    return Err(FieldError::new(
                        "phone_chars",
                        "phone",
                        "手机号只能包含数字",
                        "phone number may contain only digits",
                    ));
                }
            }
        }
        if s.len() == 13 && s.starts_with("86") {
            s.drain(..2);
        }
        if s.is_empty() {
            return Err(FieldError::new("phone_missing", "phone", "手机号不能为空", "phone number is required"));
        }
        let b = s.as_bytes();
        if s.len() != 11 || b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(FieldError::new(
                "phone_format",
                "phone",
                "手机号应为以1开头的11位数字",
                "phone number must be 11 digits starting with 1",
            ));
        }
        Ok(Phone(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****5678`
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[0..3], &self.0[7..11])
    }
}

impl TryFrom<String> for Phone {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(v: Phone) -> String {
        v.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        assert_eq!(Phone::parse("138 1234 5678").unwrap().as_str(), "13812345678");
        assert_eq!(Phone::parse("+86 13812345678").unwrap().masked(), "138****5678");
        assert_eq!(Phone::parse("１３８１２３４５６７８").unwrap().as_str(), "13812345678");
    }

    #[test]
    fn rejects() {
        assert_eq!(Phone::parse("1381234567").unwrap_err().code, "phone_format");
        assert_eq!(Phone::parse("12812345678").unwrap_err().code, "phone_format");
        assert_eq!(Phone::parse("1381234567a").unwrap_err().code, "phone_chars");
        assert_eq!(Phone::parse("").unwrap_err().code, "phone_missing");
    }
}
