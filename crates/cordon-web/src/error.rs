//! The web layer's one error type and its mapping to HTTP.
//!
//! Handlers return `Result<_, AppError>`. `into_response` only marks the response with
//! the error; the request middleware (which knows the request id, the language and
//! whether the caller wants JSON) renders it as the `{code, message}` envelope for
//! `/api` or as a page with a toast carrying the request id, so a screenshot matches a
//! log line.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cordon_domain::error::{Denied, FieldError};
use cordon_sheets::SheetError;
use cordon_store::StoreError;
use serde::Serialize;

#[derive(Debug)]
pub enum AppError {
    Unauthenticated,
    Denied(Denied),
    Field(FieldError),
    NotFound(&'static str),
    Csrf,
    Throttled,
    Store(StoreError),
    Sheet(SheetError),
    BadRequest {
        code: &'static str,
        zh: String,
        en: String,
    },
    /// A failure of the server itself (not of the store, not of the input): logged with
    /// its detail, answered with its kind's code and no detail.
    Internal(Internal, String),
    /// A body, form or query that did not deserialize: the field at fault when the
    /// framework named one, never the parser's own text (see `from_rejection`).
    Malformed {
        status: StatusCode,
        field: Option<String>,
    },
    /// A request refused by the framework before a handler ran (see `from_rejection`).
    Rejected {
        status: StatusCode,
        code: &'static str,
        zh: String,
        en: String,
    },
}

/// What kind of internal failure: each has its own stable code, so a template or crypto
/// failure is not reported as a database error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Internal {
    Template,
    Crypto,
    /// The stored policy profile does not parse.
    Policy,
    /// A handler checks an action its route does not declare.
    Route,
}

impl Internal {
    pub fn code(self) -> &'static str {
        match self {
            Internal::Template => "template_error",
            Internal::Crypto => "crypto_error",
            Internal::Policy => "policy_error",
            Internal::Route => "route_declaration",
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}
impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Field(e)
    }
}
impl From<Denied> for AppError {
    fn from(e: Denied) -> Self {
        AppError::Denied(e)
    }
}
impl From<SheetError> for AppError {
    fn from(e: SheetError) -> Self {
        match e {
            SheetError::Forbidden(d) => AppError::Denied(d),
            SheetError::Store(s) => AppError::Store(s),
            other => AppError::Sheet(other),
        }
    }
}

/// The JSON error envelope of the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `id_number_checksum`, `forbidden_scope`.
    pub code: String,
    /// Message in the caller's language.
    pub message: String,
    pub message_zh: String,
    pub message_en: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub request_id: String,
}

impl AppError {
    /// Wraps a framework rejection (plain-text body) in Cordon's error shape. `limit`: the
    /// body limit of the route, for a body over it.
    pub fn from_rejection(status: StatusCode, detail: String, limit: Option<usize>) -> AppError {
        let (code, zh, en) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                let limit = limit.unwrap_or(cordon_sheets::MAX_UPLOAD_BYTES);
                let size = if limit >= 1024 * 1024 {
                    format!("{} MB", limit / (1024 * 1024))
                } else {
                    format!("{} KB", limit / 1024)
                };
                (
                    "upload_too_large",
                    format!("提交的内容过大（上限{size}）"),
                    format!("the request is too large (limit {size})"),
                )
            }
            StatusCode::NOT_FOUND => ("not_found", "页面不存在".to_string(), "no such page".to_string()),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "不支持该请求方法".to_string(), "method not allowed".to_string())
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "请求的内容类型不受支持".to_string(),
                "unsupported content type: send JSON (application/json) or a form".to_string(),
            ),
            _ => return AppError::Malformed { status, field: rejected_field(&detail) },
        };
        AppError::Rejected { status, code, zh, en }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Rejected { status, .. } | AppError::Malformed { status, .. } => *status,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Denied(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::Field(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            AppError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            AppError::Store(StoreError::Conflict { .. }) => StatusCode::CONFLICT,
            AppError::Store(StoreError::Backend(_)) | AppError::Internal(..) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Sheet(SheetError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Sheet(_) | AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        }
    }

    pub fn code(&self) -> String {
        match self {
            AppError::Unauthenticated => "unauthenticated".into(),
            AppError::Denied(d) => d.code.into(),
            AppError::Field(f) => f.code.into(),
            AppError::NotFound(_) => "not_found".into(),
            AppError::Csrf => "csrf_invalid".into(),
            AppError::Throttled => "login_throttled".into(),
            AppError::Store(s) => s.code().into(),
            AppError::Internal(kind, _) => kind.code().into(),
            AppError::Sheet(s) => s.code().into(),
            AppError::BadRequest { code, .. } | AppError::Rejected { code, .. } => (*code).into(),
            AppError::Malformed { field: Some(_), .. } => "field_invalid".into(),
            AppError::Malformed { field: None, .. } => "bad_request".into(),
        }
    }

    pub fn field(&self) -> Option<String> {
        match self {
            AppError::Field(f) => Some(f.field.to_string()),
            AppError::Malformed { field, .. } => field.clone(),
            _ => None,
        }
    }

    /// (中文, English)
    pub fn messages(&self) -> (String, String) {
        match self {
            AppError::Unauthenticated => ("请先登录".into(), "please log in".into()),
            AppError::Denied(d) => (d.zh.clone(), d.en.clone()),
            AppError::Field(f) => (format!("{}：{}", field_zh(f.field), f.zh), format!("{}: {}", f.field, f.en)),
            AppError::NotFound(what) => (format!("未找到（{what}）"), format!("not found ({what})")),
            AppError::Csrf => (
                "表单已过期或来源无效，请刷新页面后重试".into(),
                "the form has expired or did not come from this site; reload the page and try again".into(),
            ),
            AppError::Throttled => {
                ("登录失败次数过多，请稍后再试".into(), "too many failed logins; try again shortly".into())
            }
            AppError::Store(StoreError::Conflict { code, .. }) => match *code {
                "id_number_exists" => ("身份证号已登记".into(), "this ID number is already registered".into()),
                "username_taken" => ("用户名已被使用".into(), "username already taken".into()),
                other => (format!("数据冲突（{other}）"), format!("conflict ({other})")),
            },
            AppError::Store(StoreError::NotFound(what)) => (format!("未找到（{what}）"), format!("not found ({what})")),
            AppError::Store(StoreError::Backend(_)) | AppError::Internal(..) => {
                ("服务器内部错误，请稍后重试".into(), "internal error; please try again later".into())
            }
            AppError::Sheet(s) => (s.zh(), s.en()),
            AppError::BadRequest { zh, en, .. } | AppError::Rejected { zh, en, .. } => (zh.clone(), en.clone()),
            AppError::Malformed { field: Some(f), .. } => {
                (format!("{}：缺少或格式不对", field_zh(f)), format!("{f}: missing or not valid"))
            }
            AppError::Malformed { field: None, .. } => {
                ("请求格式错误（不是有效的表单或JSON）".into(), "malformed request (not a valid form or JSON)".into())
            }
        }
    }

    pub fn body(&self, request_id: &str, lang: crate::i18n::Lang) -> ErrorBody {
        let (zh, en) = self.messages();
        ErrorBody {
            code: self.code(),
            message: lang.pick(&zh, &en).to_string(),
            message_zh: zh,
            message_en: en,
            field: self.field(),
            request_id: request_id.to_string(),
        }
    }
}

/// The field a deserialization error names, from the framework's text: the path before
/// the parser's message (`items[0].kind: …`), or the name in "missing field `x`" /
/// "unknown field `x`". Only a plain identifier path is taken, so nothing of the input
/// is echoed.
fn rejected_field(detail: &str) -> Option<String> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
            && s.chars().any(|c| c.is_ascii_alphabetic())
    };
    let rest = detail.split_once(": ").map_or(detail, |(_, r)| r);
    if let Some((path, _)) = rest.split_once(": ")
        && plain(path)
    {
        return Some(path.to_string());
    }
    let named = rest.split_once("field `").and_then(|(_, r)| r.split_once('`')).map(|(f, _)| f);
    named.filter(|f| plain(f)).map(str::to_string)
}

/// The Chinese name of an input field, for messages: the `field.<name>` row of the
/// message table of the feature whose form has the field (the name itself if none).
pub fn field_zh(field: &str) -> String {
    let key = format!("field.{field}");
    match crate::i18n::text(crate::i18n::Lang::Zh, &key) {
        t if t == key => field.to_string(),
        t => t,
    }
}

/// Marker put on an error response for the middleware to render.
#[derive(Debug, Clone)]
pub struct ErrorMark(pub std::sync::Arc<AppError>);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            AppError::Store(StoreError::Backend(msg)) => tracing::error!(error = %msg, "store failure"),
            AppError::Internal(kind, detail) => {
                tracing::error!(code = kind.code(), error = %detail, "internal failure")
            }
            _ => {}
        }
        let mut resp = status.into_response();
        resp.extensions_mut().insert(ErrorMark(std::sync::Arc::new(self)));
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_name_the_field_and_never_the_parser() {
        let cases = [
            (
                "Failed to deserialize the JSON body into the target type: items[0].kind: invalid type: integer `3`, expected a string at line 1 column 40",
                Some("items[0].kind"),
            ),
            (
                "Failed to deserialize the JSON body into the target type: missing field `batch_id` at line 1 column 2",
                Some("batch_id"),
            ),
            ("Failed to deserialize form body: missing field `username`", Some("username")),
            ("Failed to parse the request body as JSON: expected value at line 1 column 1", None),
            ("Failed to deserialize query string: invalid digit found in string", None),
        ];
        for (detail, field) in cases {
            let e = AppError::from_rejection(StatusCode::UNPROCESSABLE_ENTITY, detail.into(), None);
            assert_eq!(e.field().as_deref(), field, "{detail}");
            let (zh, en) = e.messages();
            for m in [&zh, &en] {
                assert!(!m.contains("line 1") && !m.contains("expected") && !m.contains("invalid type"), "{m}");
            }
        }
        let e = AppError::from_rejection(StatusCode::PAYLOAD_TOO_LARGE, String::new(), Some(16 * 1024));
        assert!(e.messages().1.contains("16 KB"));
    }

    #[test]
    fn internal_failures_keep_their_kind() {
        for (kind, code) in [
            (Internal::Template, "template_error"),
            (Internal::Crypto, "crypto_error"),
            (Internal::Policy, "policy_error"),
            (Internal::Route, "route_declaration"),
        ] {
            let e = AppError::Internal(kind, "secret detail".into());
            assert_eq!((e.status(), e.code()), (StatusCode::INTERNAL_SERVER_ERROR, code.to_string()));
            let (zh, en) = e.messages();
            assert!(!zh.contains("secret") && !en.contains("secret"), "the detail is logged, not shown");
        }
        assert_eq!(AppError::Store(StoreError::Backend("x".into())).code(), "database_error");
    }
}
