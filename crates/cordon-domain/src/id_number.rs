//! Resident identity numbers (居民身份证号码, GB 11643-1999).
//!
//! Eighteen characters: six-digit region code, eight-digit birth date, three-digit
//! sequence (odd = male, even = female) and a check character computed with ISO 7064
//! MOD 11-2 (`0`–`9` or `X`). Input typed on phones often arrives with full-width digits
//! or a lowercase `x`; those are normalised, everything else that is not a valid number
//! is rejected with the reason.

use crate::error::FieldError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// A valid 18-character ID number. Holding one means every rule has been checked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

fn err(code: &'static str, zh: &str, en: &str) -> FieldError {
    FieldError::new(code, "id_number", zh, en)
}

/// The check character for the first 17 digits (which must be ASCII digits).
pub fn check_char(first17: &[u8]) -> char {
    let sum: u32 = first17.iter().zip(WEIGHTS.iter()).map(|(d, w)| u32::from(d.saturating_sub(b'0')) * w).sum();
    CHECK[(sum % 11) as usize]
}

impl IdNumber {
    /// Parses typed or imported input. Full-width digits (０–９), a full-width or
    /// lowercase x and surrounding spaces are normalised; anything else is an error.
    pub fn parse(input: &str) -> Result<IdNumber, FieldError> {
        let mut s = String::with_capacity(18);
        for c in input.trim().chars() {
            let c = match c {
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                'x' | 'ｘ' | 'Ｘ' => 'X',
                other => other,
            };
            if !(c.is_ascii_digit() || c == 'X') {
                return Err(err(
                    "id_number_chars",
                    "身份证号只能包含数字和末位X",
                    "ID number may contain only digits and a final X",
                ));
            }
            s.push(c);
        }
        if s.is_empty() {
            return Err(err("id_number_missing", "身份证号不能为空", "ID number is required"));
        }
        if s.len() != 18 {
            return Err(err(
                "id_number_length",
                &format!("身份证号应为18位，实际为{}位", s.len()),
                &format!("ID number must have 18 characters, found {}", s.len()),
            ));
        }
        let b = s.as_bytes();
        if b[..17].contains(&b'X') {
            return Err(err("id_number_chars", "只有末位可以是X", "only the last character may be X"));
        }
        if b[0] == b'0' || &s[0..2] < "11" || &s[0..2] > "82" {
            return Err(err("id_number_region", "身份证号的地区码无效", "ID number has an invalid region code"));
        }
        let date = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").ok();
        match date {
            Some(d) if d.format("%Y").to_string().as_str() >= "1900" => {}
            _ => {
                return Err(err(
                    "id_number_birth_date",
                    "身份证号中的出生日期无效",
                    "ID number contains an invalid birth date",
                ));
            }
        }
        if check_char(&b[..17]) != b[17] as char {
            return Err(err("id_number_checksum", "身份证号校验位错误", "ID number check digit is wrong"));
        }
        Ok(IdNumber(s))
    }

    /// Builds a valid number from its parts, computing the check character.
    /// Used by the generator; `region` must be six digits and `seq` below 1000.
    pub fn from_parts(region: u32, birth: NaiveDate, seq: u32) -> Option<IdNumber> {
        if !(110000..=829999).contains(&region) || seq > 999 {
            return None;
        }
        let first17 = format!("{region:06}{}{seq:03}", birth.format("%Y%m%d"));
        let c = check_char(first17.as_bytes());
        IdNumber::parse(&format!("{first17}{c}")).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn region(&self) -> &str {
        &self.0[0..6]
    }

    pub fn birth_date(&self) -> NaiveDate {
        // Checked in parse; the fallback is unreachable for a held value.
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").unwrap_or_default()
    }

    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female }
    }

    /// `1411**********123X`: region prefix and the last four, for screens that only need
    /// to tell two people apart.
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[0..4], &self.0[14..18])
    }
}

impl TryFrom<String> for IdNumber {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        IdNumber::parse(&s)
    }
}

impl From<IdNumber> for String {
    fn from(v: IdNumber) -> String {
        v.0
    }
}

/// Debug never prints the full number: it ends up in logs.
impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Public GB 11643 examples and hand-computed vectors.
    const VALID: &[&str] = &["11010519491231002X", "440524194001010015", "141102198507150013", "141102199001010018"];

    #[test]
    fn valid_vectors() {
        for v in VALID {
            let id = IdNumber::parse(v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(id.as_str(), *v);
        }
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.region(), "110105");
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(IdNumber::parse("141102198507150013").unwrap().sex(), Sex::Male);
    }

    #[test]
    fn normalises_full_width_and_lowercase() {
        let id = IdNumber::parse(" １１０１０５１９４９１２３１００２x ").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn invalid_vectors() {
        let cases = [
            ("110105194912310021", "id_number_checksum"),
            ("11010519491231002", "id_number_length"),
            ("1101051949123100211", "id_number_length"),
            ("110105194902300028", "id_number_birth_date"),
            ("1101051949X231002X", "id_number_chars"),
            ("11010519491231002Y", "id_number_chars"),
            ("11010519491231-02X", "id_number_chars"),
            ("011105194912310020", "id_number_region"),
            ("", "id_number_missing"),
            ("110105180012310020", "id_number_birth_date"),
        ];
        for (input, code) in cases {
            let e = IdNumber::parse(input).expect_err(input);
            assert_eq!(e.code, code, "{input}");
            assert_eq!(e.field, "id_number");
            assert!(!e.zh.is_empty() && !e.en.is_empty());
        }
    }

    #[test]
    fn debug_is_masked() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert!(!format!("{id:?}").contains("19491231"));
    }

    proptest! {
        #[test]
        fn from_parts_always_parses(region in 110000u32..829999, days in 0i64..40000, seq in 0u32..1000) {
            let birth = NaiveDate::from_ymd_opt(1910, 1, 1).unwrap() + chrono::Days::new(days as u64);
            if let Some(id) = IdNumber::from_parts(region, birth, seq) {
                prop_assert_eq!(id.birth_date(), birth);
                prop_assert_eq!(IdNumber::parse(id.as_str()).unwrap(), id.clone());
            }
        }

        #[test]
        fn any_single_digit_change_is_caught(days in 0i64..30000, seq in 0u32..1000, pos in 0usize..17, delta in 1u8..10) {
            let birth = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap() + chrono::Days::new(days as u64);
            let id = IdNumber::from_parts(141102, birth, seq).unwrap();
            let mut b = id.as_str().as_bytes().to_vec();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(b).unwrap();
            prop_assert!(IdNumber::parse(&changed).is_err());
        }
    }
}
