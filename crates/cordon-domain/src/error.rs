//! Errors the domain can state about a value or a request, in Chinese and English.
//!
//! Every error carries a stable machine code (never reworded), the field it is about and
//! a message in both languages. The web crate maps these to HTTP; nothing here knows how.

use serde::Serialize;

/// A field that failed a rule. `code` is stable, `field` names the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {en}")]
pub struct FieldError {
    pub code: &'static str,
    pub field: &'static str,
    pub zh: String,
    pub en: String,
}

impl FieldError {
    pub fn new(code: &'static str, field: &'static str, zh: impl Into<String>, en: impl Into<String>) -> Self {
        FieldError { code, field, zh: zh.into(), en: en.into() }
    }

    /// The same error reported against another field name (e.g. a spreadsheet column).
    pub fn on_field(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }
}

/// A principal tried to act outside its role or its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("forbidden: {en}")]
pub struct Denied {
    pub code: &'static str,
    pub zh: String,
    pub en: String,
}

impl Denied {
    pub fn role(action: &str) -> Self {
        Denied {
            code: "forbidden_role",
            zh: format!("您的角色无权执行此操作（{action}）"),
            en: format!("your role may not do this ({action})"),
        }
    }
    pub fn scope(action: &str) -> Self {
        Denied {
            code: "forbidden_scope",
            zh: format!("该对象不在您的管辖范围内（{action}）"),
            en: format!("this is outside your area of responsibility ({action})"),
        }
    }
}

/// A capability's refusals as one enum: each variant with its stable code, the field it
/// is about and its text in both languages, `error()` and the conversions to
/// `FieldError` and to the code (what `serde` writes). The capability modules
/// (containment, tracing) declare their table with it.
macro_rules! refusal_enum {
    ($(#[$m:meta])* $($variant:ident => ($code:literal, $field:literal, $zh:literal, $en:literal),)*) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(into = "&'static str")]
        pub enum Refusal { $($variant,)* }

        impl Refusal {
            pub const ALL: &'static [Refusal] = &[$(Refusal::$variant,)*];
            pub fn code(self) -> &'static str { match self { $(Refusal::$variant => $code,)* } }
            pub fn field(self) -> &'static str { match self { $(Refusal::$variant => $field,)* } }
            pub fn zh(self) -> &'static str { match self { $(Refusal::$variant => $zh,)* } }
            pub fn en(self) -> &'static str { match self { $(Refusal::$variant => $en,)* } }
            /// The refusal as a field error.
            pub fn error(self) -> $crate::error::FieldError {
                $crate::error::FieldError::new(self.code(), self.field(), self.zh(), self.en())
            }
        }

        impl From<Refusal> for &'static str {
            fn from(r: Refusal) -> &'static str {
                r.code()
            }
        }

        impl From<Refusal> for $crate::error::FieldError {
            fn from(r: Refusal) -> $crate::error::FieldError {
                r.error()
            }
        }
    };
}
pub(crate) use refusal_enum;
