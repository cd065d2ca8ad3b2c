//! Cordon's HTTP surface: server-rendered pages (Simplified Chinese by default, English on
//! request), the JSON API under `/api/v1` with its OpenAPI document, sessions and tokens.
//!
//! Architecture Invariant: this is the only crate that knows HTTP. It talks to storage only
//! through [`cordon_store::Store`] and never learns which backend is behind it; it never
//! picks one either (the binary does). Every route is declared once, with what it needs,
//! in the module that owns it ([`routes`]); the router is built from those declarations,
//! and every route that touches personal data goes through [`auth::Ctx::authorize`]
//! under its declared action and writes an audit entry.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod accounts;
pub mod auth;
mod codes;
mod common;
pub mod error;
mod features;
mod followup;
pub mod i18n;
pub mod policy;
mod quarantine;
mod registry;
pub mod routes;
pub mod scanpath;
pub mod security;
mod shell;
pub mod templates;
mod testing;
// The tracing feature's folder is `tracing/`; the module has another name so that the
// `tracing` crate (logging) keeps its name at the crate root.
#[path = "tracing/mod.rs"]
mod tracing_cases;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use cordon_store::Store;
use error::{AppError, ErrorMark};
use i18n::Lang;
use rand::RngCore;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// Settings the web layer needs; the binary fills them from its typed settings.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// Mark cookies `Secure` (set when served behind HTTPS).
    pub secure_cookies: bool,
    /// Tube barcode template of mass testing (`None`: two letters and ten digits).
    pub tube_pattern: Option<cordon_domain::testing::BarcodePattern>,
    /// The district's time zone (default Asia/Shanghai).
    pub tz: cordon_domain::clock::DistrictTz,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: WebSettings,
    /// The key of [`security::Keyed`], read from the store once.
    login_key: Arc<tokio::sync::OnceCell<[u8; 32]>>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, settings: WebSettings) -> AppState {
        AppState { store, settings, login_key: Arc::default() }
    }

    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<Html<String>, AppError> {
        let tpl = templates::environment_cached().get_template(name).map_err(template_error)?;
        tpl.render(ctx).map(Html).map_err(template_error)
    }
}

pub(crate) fn template_error(e: minijinja::Error) -> AppError {
    AppError::Internal(error::Internal::Template, e.to_string())
}

/// Per-request facts set by the outermost middleware.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub lang: Lang,
    /// The request path (no query), for audit and logs.
    pub route: String,
}

/// The whole application: every route of the registry ([`routes`]), nothing else.
pub fn router(state: AppState) -> Router {
    // Each route carries its own body limit ([`routes::Route::body_limit`]); this one
    // covers what no route answers.
    routes::router(&state)
        .layer(DefaultBodyLimit::max(security::DEFAULT_BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), request_context))
        .layer(middleware::from_fn(security::headers))
        .with_state(state)
}

fn new_request_id() -> String {
    let mut b = [0u8; 6];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Request id, language, tracing span, and rendering of errors for people or programs.
async fn request_context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    // The request id is always the server's own: it names audit entries, so a client may
    // not choose it. A device's own id (bounded, plain) is only logged beside it.
    let request_id = new_request_id();
    let client_request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or("")
        .to_string();
    let lang = auth::cookie(req.headers(), auth::LANG_COOKIE).map(Lang::from_tag).unwrap_or_default();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let meta = RequestMeta { request_id: request_id.clone(), lang, route: path.clone() };
    req.extensions_mut().insert(meta.clone());
    let span = tracing::info_span!("request", %method, path = %path, request_id = %request_id, client_request_id = %client_request_id);
    let mut resp = next.run(req).instrument(span.clone()).await;
    if let Some(ErrorMark(err)) = resp.extensions_mut().remove::<ErrorMark>() {
        resp = render_error(&state, &meta, &path, &err);
    } else if resp.status().is_client_error() && is_plain_text(&resp) {
        // An extractor's rejection (bad JSON, body over the limit, unknown route): the same
        // envelope and page as every other error.
        let status = resp.status();
        let limit = resp.extensions().get::<routes::BodyLimit>().map(|l| l.0);
        let detail = match axum::body::to_bytes(std::mem::take(resp.body_mut()), 4096).await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(_) => String::new(),
        };
        resp = render_error(&state, &meta, &path, &AppError::from_rejection(status, detail, limit));
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    span.in_scope(|| {
        tracing::info!(status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "handled")
    });
    resp
}

fn is_plain_text(resp: &Response) -> bool {
    resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_none_or(|v| v.starts_with("text/plain"))
}

fn render_error(state: &AppState, meta: &RequestMeta, path: &str, err: &AppError) -> Response {
    let status = err.status();
    if path.starts_with("/api/") {
        return (status, axum::Json(err.body(&meta.request_id, meta.lang))).into_response();
    }
    if matches!(err, AppError::Unauthenticated) {
        return Redirect::to(&format!("/login?next={}", urlencode(path))).into_response();
    }
    let body = err.body(&meta.request_id, meta.lang);
    let ctx = minijinja::context! {
        lang => meta.lang.tag(),
        request_id => meta.request_id,
        error => body,
        status => status.as_u16(),
    };
    match state.render("error.html", ctx) {
        Ok(html) => (status, html).into_response(),
        Err(_) => (status, format!("{} ({})", body.message, meta.request_id)).into_response(),
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Serves until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address is what login throttling counts ([`security::client_key`]).
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Static assets are compiled in.
pub(crate) fn static_asset(name: &str) -> Response {
    let (body, mime) = match name {
        "app.css" => (templates::APP_CSS, "text/css; charset=utf-8"),
        "echarts.min.js" => (templates::ECHARTS_JS, "text/javascript; charset=utf-8"),
        page => match templates::PAGE_SCRIPTS.iter().find(|(n, _)| *n == page) {
            Some((_, js)) => (*js, "text/javascript; charset=utf-8"),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "public, max-age=3600")], Body::from(body)).into_response()
}
