//! The sampler's job: the scan page (tube, then people, seal; offline queue on the
//! device), boxing tubes for transport, and the device API the page and phones post
//! batches of scans to (client-generated ids, idempotent on retry).

use super::{load_round, parse_person, pattern};
use crate::AppState;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, Utc};
use cordon_domain::Phone;
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::policy::Profile;
use cordon_domain::testing::{BarcodePattern, Refusal};
use cordon_store::testing::{ScanBatch, ScanItem, ScanOutcome, ScanPerson};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/testing/rounds/{id}/scan", Action::SampleResidents, scan_page),
        Route::post("/testing/boxes", Action::SampleResidents, box_tubes).body_limit(64 * 1024),
        Route::post("/api/v1/rounds/{id}/scans", Action::SampleResidents, scans).body_limit(1024 * 1024),
    ]
}

/// The barcode template as a JavaScript regular expression (A → letter, 9 → digit).
fn pattern_regex(p: &BarcodePattern) -> String {
    let mut s = String::from("^");
    for c in p.as_str().chars() {
        match c {
            'A' => s.push_str("[A-Za-z]"),
            '9' => s.push_str("[0-9]"),
            c if c.is_ascii_alphanumeric() => s.push(c),
            c => {
                s.push('\\');
                s.push(c);
            }
        }
    }
    s.push('$');
    s
}

#[derive(Deserialize)]
struct ScanQuery {
    /// Opens the page in single-tube mode (re-sampling, door-to-door).
    #[serde(default)]
    single: Option<String>,
}

async fn scan_page(
    ctx: Ctx,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<ScanQuery>,
) -> Result<Response, AppError> {
    let round = load_round(&ctx, id).await?;
    let single = q.single.as_deref().is_some_and(|s| !s.is_empty() && s != "0");
    let p = pattern(&state.settings.tube_pattern);
    let html = render(
        &ctx,
        "testing/scan.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string(), "pool": round.pool.get()},
               "pattern": p.as_str(), "pattern_re": pattern_regex(&p), "single": single}),
    )?;
    Ok(html.into_response())
}

#[derive(Deserialize)]
struct BoxForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    round: i64,
    code: String,
    tubes: String,
}

async fn box_tubes(ctx: Ctx, State(state): State<AppState>, Form(f): Form<BoxForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let p = pattern(&state.settings.tube_pattern);
    let code = f.code.trim().to_uppercase();
    if code.is_empty() || code.len() > 40 {
        return Err(FieldError::new(
            "box_code_invalid",
            "code",
            "请填写转运箱编号（最多40字符）",
            "enter a box code (at most 40 characters)",
        )
        .into());
    }
    let tubes = f.tubes.split_whitespace().map(|t| p.parse(t)).collect::<Result<Vec<_>, _>>()?;
    let entry = ctx.entry("tubes.box", "box", &code, format!("{} tubes", tubes.len()));
    let n = ctx.store.box_tubes(&code, &tubes, ctx.user.id, ctx.now, &entry).await??;
    Ok(Redirect::to(&format!("/testing/rounds/{}/scan?boxed={n}", f.round)).into_response())
}

// ---- the device API -------------------------------------------------------------------------

/// Entries one batch may carry.
pub const MAX_BATCH: usize = 2_000;

/// A device's queued scans, sent (and re-sent) as one batch.
#[derive(Deserialize, ToSchema)]
pub(super) struct BatchIn {
    pub batch_id: String,
    pub items: Vec<ItemIn>,
}

/// One queued entry of a device. `kind`: `open`, `sample`, `seal`, `undo`.
#[derive(Deserialize, ToSchema)]
pub(super) struct ItemIn {
    pub client_id: String,
    pub kind: String,
    pub tube: String,
    /// Scanned or typed text naming the person (ID number now; health-code tokens later).
    #[serde(default)]
    pub person: Option<String>,
    /// Sample as a visitor (not on the register), with an optional phone.
    #[serde(default)]
    pub visitor: bool,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default)]
    pub resident_id: Option<i64>,
    /// When the device scanned it (RFC 3339); default: when the server receives it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<DateTime<Utc>>,
}

fn refused(client_id: &str, e: FieldError) -> ScanOutcome {
    ScanOutcome {
        client_id: client_id.to_string(),
        code: e.code,
        error: Some(e),
        tube: None,
        count: 0,
        capacity: 0,
        sealed: false,
        resident_id: None,
        masked_name: None,
        visitor: false,
        resample: false,
    }
}

fn parse_item(it: &ItemIn, p: &BarcodePattern, profile: &Profile, now: DateTime<Utc>) -> Result<ScanItem, FieldError> {
    let tube = p.parse(&it.tube)?;
    // A device clock is believed within the profile's bounds; a time far back or ahead
    // (a clock reset to 1900) is recorded as the time of receipt.
    let at = cordon_domain::security::device_time(it.at, now, &profile.security);
    let client_id = it.client_id.clone();
    Ok(match it.kind.as_str() {
        "open" => ScanItem::Open { client_id, tube, capacity: profile.pool_capacity(it.capacity)?, at },
        "seal" => ScanItem::Seal { client_id, tube, at },
        "undo" => ScanItem::Undo {
            client_id,
            tube,
            resident_id: it.resident_id.ok_or_else(|| Refusal::NotInTube.error())?,
            at,
        },
        "sample" => {
            let text = it.person.as_deref().unwrap_or("");
            let person = if it.visitor {
                let id_number = cordon_domain::IdNumber::parse(text).map_err(|e| e.on_field("person"))?;
                let phone = match it.phone.as_deref().map(str::trim) {
                    Some(p) if !p.is_empty() => Some(Phone::parse(p)?),
                    _ => None,
                };
                ScanPerson::Visitor { id_number, phone }
            } else {
                parse_person(text)?
            };
            ScanItem::Sample { client_id, tube, person, at }
        }
        _ => {
            return Err(FieldError::new(
                "scan_kind",
                "kind",
                "扫码类型应为 open/sample/seal/undo",
                "kind must be open, sample, seal or undo",
            ));
        }
    })
}

/// Applies a device batch. Entries that do not parse are answered here; the rest go to
/// the store in one transaction; the answers come back in the order sent.
#[utoipa::path(post, path = "/api/v1/rounds/{id}/scans", params(("id" = i64, Path, description = "test round")),
    request_body = BatchIn,
    responses((status = 200, description = "one outcome per entry; a replayed entry says `replayed`"), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn scans(
    ctx: Ctx,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(b): Json<BatchIn>,
) -> Result<Response, AppError> {
    let round = load_round(&ctx, id).await?;
    if b.items.len() > MAX_BATCH || b.batch_id.trim().is_empty() || b.batch_id.len() > 100 {
        return Err(FieldError::new(
            "batch_invalid",
            "items",
            format!("每批须有编号且最多{MAX_BATCH}条"),
            format!("a batch needs an id and at most {MAX_BATCH} entries"),
        )
        .into());
    }
    let p = pattern(&state.settings.tube_pattern);
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let mut slots: Vec<Option<ScanOutcome>> = Vec::with_capacity(b.items.len());
    let mut items = Vec::with_capacity(b.items.len());
    for it in &b.items {
        match parse_item(it, &p, &profile, ctx.now) {
            Ok(i) => {
                items.push(i);
                slots.push(None);
            }
            Err(e) => slots.push(Some(refused(&it.client_id, e))),
        }
    }
    let batch = ScanBatch {
        batch_id: format!("{}:{}", ctx.user.id, b.batch_id.trim()),
        round_id: round.id,
        user_id: ctx.user.id,
        // A sampler samples the people of their area; anyone else is a visitor here.
        scope: Some(ctx.principal.roots.clone()),
        items,
    };
    let entry =
        ctx.entry("scans.ingest", "round", &round.id.to_string(), format!("batch of {} entries", b.items.len()));
    let mut report = ctx.store.ingest_scans(batch, &entry).await?;
    let mut stored = std::mem::take(&mut report.outcomes).into_iter();
    let outcomes: Vec<ScanOutcome> = if report.replayed {
        Vec::new()
    } else {
        slots.into_iter().filter_map(|s| s.or_else(|| stored.next())).collect()
    };
    let lang = ctx.meta.lang;
    let outcomes: Vec<OutcomeOut<'_>> =
        outcomes.iter().map(|o| OutcomeOut { o, message: o.error.as_ref().map(|e| lang.pick(&e.zh, &e.en)) }).collect();
    Ok(Json(BatchOut { batch_id: &b.batch_id, replayed: report.replayed, accepted: report.accepted, outcomes })
        .into_response())
}

/// An outcome with its message in the caller's language, serialised without copying.
#[derive(serde::Serialize)]
struct OutcomeOut<'a> {
    #[serde(flatten)]
    o: &'a ScanOutcome,
    message: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct BatchOut<'a> {
    batch_id: &'a str,
    replayed: bool,
    accepted: u32,
    outcomes: Vec<OutcomeOut<'a>>,
}
