//! Health codes over HTTP: the active policy profile (switched by the commander), risk
//! zones, a resident's code (colour, reasons, signed QR), printable code cards, the
//! checkpoint guard page, venues with check-ins, and passes.
//!
//! Owns the one scan decision ([`scan`]) that the guard page, the device API and the
//! benchmark share, so they can never disagree. Must never cache anything another
//! instance can change: the profile's text and every key, zone and pass are read from
//! the store per request (only the parse of a profile text is memoised, keyed by the
//! text itself, which cannot go stale). Never puts an ID number or a phone number into
//! an audit entry or a log.

use crate::AppState;
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::{Lang, text};
use crate::pages::render;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use cordon_domain::Role;
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::{Action, authorize};
use cordon_domain::colour::{self, Colour, Decision, Direction, Reason};
use cordon_domain::error::{Denied, FieldError};
use cordon_domain::pass::{Holder, NewPass, Pass, parse_plate};
use cordon_domain::policy::{self, Profile};
use cordon_domain::token::{self, Claims, PublicKeyInfo, SubjectKind, TokenError};
use cordon_domain::zone::{NewZone, ZoneLevel};
use cordon_store::Store;
use cordon_store::codes::{
    Checkpoint, NewCheckpoint, NewVenue, PersonContext, PolicySetting, Scan, ScanContext, ScanSubject,
    SigningKeyRecord, VenueKind,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, Mutex};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/codes/policy", get(policy_page).post(policy_switch))
        .route("/zones", get(zones_page).post(zone_designate))
        .route("/residents/{id}/code", get(code_page))
        .route("/residents/{id}/qr.svg", get(code_svg))
        .route("/buildings/{code}/cards", get(cards_page))
        .route("/checkpoints", get(checkpoints_page).post(checkpoint_create))
        .route("/checkpoints/{id}/guards", post(checkpoint_assign))
        .route("/checkpoints/{id}/scan", get(scan_page).post(scan_submit))
        .route("/venues", get(venues_page).post(venue_create))
        .route("/venues/{id}", get(venue_page))
        .route("/venues/{id}/checkins", post(venue_checkin))
        .route("/passes", get(passes_page).post(pass_issue))
        .route("/passes/export.csv", get(passes_export))
        .route("/passes/{id}", get(pass_page))
        .route("/passes/{id}/revoke", post(pass_revoke))
}

// ---- the active profile ---------------------------------------------------------------

/// The district's active profile, read from the store on every call. Parsing is memoised
/// by the exact text, so a profile switched through another instance applies here at the
/// next request.
pub async fn active_profile(store: &dyn Store) -> Result<Arc<Profile>, AppError> {
    profile_of(store.policy_setting().await?)
}

/// The profile of a policy setting just read (`None`: the shipped default).
fn profile_of(setting: Option<PolicySetting>) -> Result<Arc<Profile>, AppError> {
    static PARSED: Mutex<Option<(String, Arc<Profile>)>> = Mutex::new(None);
    let source = match setting {
        Some(s) => s.source,
        None => default_source().to_string(),
    };
    if let Some((_, p)) = PARSED.lock().unwrap_or_else(|p| p.into_inner()).as_ref().filter(|(src, _)| *src == source) {
        return Ok(p.clone());
    }
    let profile = Arc::new(Profile::parse(&source).map_err(|e| {
        AppError::Store(cordon_store::StoreError::Backend(format!("stored policy profile does not parse: {e}")))
    })?);
    *PARSED.lock().unwrap_or_else(|p| p.into_inner()) = Some((source, profile.clone()));
    Ok(profile)
}

fn default_source() -> &'static str {
    policy::SHIPPED.iter().find(|(n, _)| *n == policy::DEFAULT_PROFILE).map_or("", |(_, s)| s)
}

// ---- tokens --------------------------------------------------------------------------

fn no_key() -> AppError {
    AppError::BadRequest {
        code: "no_signing_key",
        zh: "尚未生成区级签名密钥，请运行 cordon keys rotate".into(),
        en: "no district signing key yet: run `cordon keys rotate`".into(),
    }
}

/// Signs a token for a resident or a pass with the current key, valid for the profile's
/// `token_valid_days`.
pub async fn issue_token(
    store: &dyn Store,
    kind: SubjectKind,
    subject: i64,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let (key, secret) = store.current_signing_key().await?.ok_or_else(no_key)?;
    let profile = active_profile(store).await?;
    let claims = Claims {
        kind,
        district: key.district.clone(),
        key_id: u32::try_from(key.id).map_err(|_| no_key())?,
        subject,
        issued_at: now,
        expires_at: now + Duration::days(i64::from(profile.codes.token_valid_days)),
    };
    token::sign(&claims, &secret).ok_or_else(no_key)
}

/// Decodes and verifies a scanned token against the stored keys.
pub async fn verify_token(
    store: &dyn Store,
    input: &str,
    now: DateTime<Utc>,
) -> Result<Result<Claims, TokenError>, AppError> {
    let unverified = match token::decode(input) {
        Ok(u) => u,
        Err(e) => return Ok(Err(e)),
    };
    let key = store.signing_key(i64::from(unverified.claims.key_id)).await?;
    verify_against(store, unverified, key, now).await
}

/// Verifies a decoded token against `key` (the record its key id names, just read). The
/// signature check goes through the memo of [`crate::scanpath`]; district, revocation and
/// expiry are checked here every time.
async fn verify_against(
    store: &dyn Store,
    unverified: token::Unverified,
    key: Option<SigningKeyRecord>,
    now: DateTime<Utc>,
) -> Result<Result<Claims, TokenError>, AppError> {
    // The district this installation serves: the key's, or (for an unknown key id) the
    // current key's, so a token of another district says so rather than "forged".
    let district = match &key {
        Some(k) => k.district.clone(),
        None => store.current_signing_key().await?.map(|(k, _)| k.district).unwrap_or_default(),
    };
    let info = key.map(|k| PublicKeyInfo {
        key_id: u32::try_from(k.id).unwrap_or(u32::MAX),
        public: k.public,
        revoked: k.revoked_at.is_some_and(|r| r <= now),
    });
    Ok(unverified.verify_with(&district, info.as_ref(), now, crate::scanpath::check_signature))
}

/// An SVG QR code of `data`, without the XML declaration so it can sit inline in a page.
pub fn qr_svg(data: &str, size: u32) -> String {
    match qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M) {
        Ok(code) => {
            let svg =
                code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(size, size).quiet_zone(true).build();
            match svg.find("<svg") {
                Some(i) => svg[i..].to_string(),
                None => svg,
            }
        }
        Err(_) => String::new(),
    }
}

// ---- the scan decision ---------------------------------------------------------------

/// What a guard (or a device) is shown after a scan.
#[derive(Debug, Clone, Serialize)]
pub struct ScanOutcome {
    pub scan_id: i64,
    pub allowed: bool,
    /// Stable code of the decision (`green`, `yellow`, `red`, `pass_holder`, `pass_valid`,
    /// `token_forged`, `pass_revoked`, …).
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
    pub subject: ScanSubject,
    pub colour: Option<Colour>,
    pub reasons: Vec<Reason>,
    /// 张*明, or a plate for a vehicle pass.
    pub name_masked: Option<String>,
    pub id_masked: Option<String>,
    pub direction: Direction,
    pub pass_id: Option<i64>,
}

struct Verdict {
    subject: ScanSubject,
    resident_id: Option<i64>,
    pass_id: Option<i64>,
    colour: Option<Colour>,
    reasons: Vec<Reason>,
    name: Option<String>,
    id_masked: Option<String>,
    decision: Decision,
}

fn refusal(code: &str, zh: &str, en: &str) -> Decision {
    Decision { pass: false, code: code.into(), zh: zh.into(), en: en.into() }
}

impl Verdict {
    fn invalid(d: Decision) -> Verdict {
        Verdict {
            subject: ScanSubject::Invalid,
            resident_id: None,
            pass_id: None,
            colour: None,
            reasons: vec![],
            name: None,
            id_masked: None,
            decision: d,
        }
    }
}

/// The nearest sampling site to `area`, as "name (address, hours)": among the mass-testing
/// sites (检测点), the one serving the area most closely (longest shared code prefix with an
/// area it serves); failing any, a venue of kind sampling site.
async fn nearest_sampling_site(store: &dyn Store, area: &AreaCode) -> Result<Option<String>, AppError> {
    let district = area.lineage().first().cloned().unwrap_or_else(|| area.clone());
    let common = |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let sites = store.sites(&district).await?;
    let best = sites
        .iter()
        .filter_map(|s| s.areas.iter().map(|a| common(a.as_str(), area.as_str())).max().map(|score| (score, s)))
        .max_by_key(|(score, s)| (*score, std::cmp::Reverse(s.id)));
    if let Some((_, s)) = best {
        return Ok(Some(format!("{}（{}，{}）", s.name, s.address, s.hours)));
    }
    let venues = store.venues_under(&[district]).await?;
    Ok(venues
        .into_iter()
        .filter(|v| v.kind == VenueKind::SamplingSite)
        .max_by_key(|v| (common(v.area.as_str(), area.as_str()), std::cmp::Reverse(v.id)))
        .map(|v| v.name))
}

/// The verdict on a person from what [`CodesStore::scan_context`] read for this scan.
async fn person_verdict(
    store: &dyn Store,
    person: Option<&PersonContext>,
    policy: Option<&PolicySetting>,
    cp: &Checkpoint,
    now: DateTime<Utc>,
    via_pass: Option<&Pass>,
) -> Result<Verdict, AppError> {
    let Some(person) = person else {
        return Ok(Verdict::invalid(refusal(
            "token_unknown_person",
            "码对应的居民不在本区名册中，禁止通行",
            "the code's person is not on the register: refused",
        )));
    };
    let r = &person.resident;
    let profile = profile_of(policy.cloned())?;
    let (c, reasons) = colour::colour(&person.state, &profile, now);
    // Only a yellow code can be let through on a pass: green needs none, red never.
    let pass_ok = match (via_pass, c) {
        (Some(_), _) => true,
        (None, Colour::Yellow) => person.passes.iter().any(|p| p.check(&cp.area, now).is_ok()),
        (None, _) => false,
    };
    let site = if c == Colour::Green { None } else { nearest_sampling_site(store, &cp.area).await? };
    let decision = colour::decide(c, &reasons, pass_ok, site.as_deref());
    Ok(Verdict {
        subject: if via_pass.is_some() { ScanSubject::Pass } else { ScanSubject::Person },
        resident_id: Some(r.id),
        pass_id: via_pass.map(|p| p.id),
        colour: Some(c),
        reasons,
        name: Some(r.name.masked()),
        id_masked: Some(r.id_number.masked()),
        decision,
    })
}

/// Verifies a scanned token at checkpoint `cp`, decides, logs the scan and returns what
/// the guard sees. Every outcome (forged, expired, revoked, unknown person) is a
/// decision, never an error; only a failing database is.
pub async fn scan(
    store: &dyn Store,
    cp: &Checkpoint,
    input: &str,
    direction: Direction,
    guard_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<ScanOutcome, AppError> {
    let read = read_for_scan(store, None, input, now).await?;
    decide_and_log(store, cp, read, direction, guard_id, now).await
}

/// One scan at checkpoint `id` by the caller (the device API's single scan): the
/// checkpoint is read together with the scan's data, in one store call, and then
/// admitted exactly as [`checkpoint_for_scan`] admits it — the role first, before any
/// read; the checkpoint's existence and the guard's assignment before anything is
/// verified, decided, logged or shown.
pub async fn scan_at_checkpoint(
    ctx: &Ctx,
    id: i64,
    input: &str,
    direction: Direction,
    at: DateTime<Utc>,
) -> Result<ScanOutcome, AppError> {
    ctx.authorize(Action::ScanCheckpoint, None).await?;
    let store = ctx.store.as_ref();
    let read = read_for_scan(store, Some(id), input, at).await?;
    let found = match &read.context {
        Some(sc) => sc.checkpoint.clone(),
        None => store.checkpoint(id).await?,
    };
    let cp = admit_to_checkpoint(ctx, id, found).await?;
    decide_and_log(store, &cp, read, direction, Some(ctx.user.id), at).await
}

/// What a scan read: the token as decoded and, when it decoded, everything its verdict
/// needs (one store call; a token that does not even decode reads nothing).
struct ScanRead {
    decoded: Result<token::Unverified, TokenError>,
    context: Option<ScanContext>,
}

async fn read_for_scan(
    store: &dyn Store,
    checkpoint_id: Option<i64>,
    input: &str,
    now: DateTime<Utc>,
) -> Result<ScanRead, AppError> {
    Ok(match token::decode(input) {
        Err(e) => ScanRead { decoded: Err(e), context: None },
        Ok(u) => {
            let c = &u.claims;
            let today = cordon_domain::clock::DistrictTz::default().today(now);
            let sc = store.scan_context(checkpoint_id, i64::from(c.key_id), c.kind, c.subject, now, today).await?;
            ScanRead { decoded: Ok(u), context: Some(sc) }
        }
    })
}

/// Verifies, decides and logs one scan from what [`read_for_scan`] read.
async fn decide_and_log(
    store: &dyn Store,
    cp: &Checkpoint,
    read: ScanRead,
    direction: Direction,
    guard_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<ScanOutcome, AppError> {
    let sc = read.context;
    let verified = match read.decoded {
        Err(e) => Err(e),
        Ok(u) => verify_against(store, u, sc.as_ref().and_then(|s| s.key.clone()), now).await?,
    };
    let (person, policy, pass) = match &sc {
        Some(sc) => (sc.person.as_ref(), sc.policy.as_ref(), sc.pass.clone()),
        None => (None, None, None),
    };
    let v = match verified {
        Err(e) => Verdict::invalid(refusal(e.code(), e.zh(), e.en())),
        Ok(claims) => match claims.kind {
            SubjectKind::Person => person_verdict(store, person, policy, cp, now, None).await?,
            SubjectKind::Pass => match pass {
                None => Verdict::invalid(refusal("pass_unknown", "通行证不存在，禁止通行", "no such pass: refused")),
                Some(p) => match p.check(&cp.area, now) {
                    Err(problem) => Verdict {
                        subject: ScanSubject::Pass,
                        pass_id: Some(p.id),
                        name: Some(p.holder_label.clone()),
                        ..Verdict::invalid(refusal(problem.code(), problem.zh(), problem.en()))
                    },
                    // A person's pass is checked alongside their health code.
                    Ok(()) => match p.holder {
                        Holder::Person(_) => person_verdict(store, person, policy, cp, now, Some(&p)).await?,
                        Holder::Vehicle(_) => Verdict {
                            subject: ScanSubject::Pass,
                            pass_id: Some(p.id),
                            name: Some(p.holder_label.clone()),
                            decision: Decision {
                                pass: true,
                                code: "pass_valid".into(),
                                zh: format!("车辆通行证有效（{}），放行", p.purpose),
                                en: format!("valid vehicle pass ({}): let through", p.purpose),
                            },
                            ..Verdict::invalid(refusal("", "", ""))
                        },
                    },
                },
            },
        },
    };
    let record = Scan {
        checkpoint_id: cp.id,
        at: now,
        direction,
        subject: v.subject,
        resident_id: v.resident_id,
        pass_id: v.pass_id,
        colour: v.colour,
        allowed: v.decision.pass,
        code: v.decision.code.clone(),
        guard_id,
    };
    let id = store.record_scans(std::slice::from_ref(&record)).await?.first().copied().unwrap_or_default();
    if !v.decision.pass {
        tracing::info!(checkpoint = cp.id, code = %v.decision.code, "scan refused");
    }
    Ok(ScanOutcome {
        scan_id: id,
        allowed: v.decision.pass,
        code: v.decision.code,
        message_zh: v.decision.zh,
        message_en: v.decision.en,
        subject: v.subject,
        colour: v.colour,
        reasons: v.reasons,
        name_masked: v.name,
        id_masked: v.id_masked,
        direction,
        pass_id: v.pass_id,
    })
}

/// Loads a checkpoint and checks that the caller may scan there: an assigned guard, or
/// a role that may scan and whose subtree holds the checkpoint. Refusals are audited.
pub async fn checkpoint_for_scan(ctx: &Ctx, id: i64) -> Result<Checkpoint, AppError> {
    ctx.authorize(Action::ScanCheckpoint, None).await?;
    let found = ctx.store.checkpoint(id).await?;
    admit_to_checkpoint(ctx, id, found).await
}

/// The checks of [`checkpoint_for_scan`] after the checkpoint was read (`found`).
async fn admit_to_checkpoint(ctx: &Ctx, id: i64, found: Option<Checkpoint>) -> Result<Checkpoint, AppError> {
    let Some(cp) = found else {
        ctx.audit("scan.unknown_checkpoint", "checkpoint", &id.to_string(), "").await?;
        return Err(AppError::Rejected {
            status: axum::http::StatusCode::NOT_FOUND,
            code: "checkpoint_unknown",
            zh: format!("卡口{id}不存在"),
            en: format!("checkpoint {id} does not exist"),
        });
    };
    if ctx.principal.role == Role::CheckpointGuard {
        if !cp.guards.contains(&ctx.user.id) {
            let denied = Denied {
                code: "forbidden_checkpoint",
                zh: "您未被分配到该卡口，不能在此扫码".into(),
                en: "you are not assigned to this checkpoint".into(),
            };
            ctx.audit(
                "access.denied",
                "checkpoint",
                &cp.id.to_string(),
                "scan_checkpoint not assigned forbidden_checkpoint",
            )
            .await?;
            return Err(AppError::Denied(denied));
        }
    } else {
        ctx.authorize(Action::ScanCheckpoint, Some(&cp.area)).await?;
    }
    Ok(cp)
}

// ---- helpers -------------------------------------------------------------------------

fn field(code: &'static str, field: &'static str, zh: &str, en: &str) -> AppError {
    AppError::Field(FieldError::new(code, field, zh, en))
}

/// A `datetime-local` value (read as China time, UTC+8) or RFC 3339; empty → `default`.
fn parse_time(s: &str, name: &'static str, default: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(default);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let cst = chrono::FixedOffset::east_opt(8 * 3600)
        .ok_or_else(|| field("time_format", name, "时间格式错误", "bad time"))?;
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Some(t) = NaiveDateTime::parse_from_str(s, f).ok().and_then(|n| cst.from_local_datetime(&n).single()) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(field("time_format", name, "时间格式错误（如 2022-04-10T08:00）", "bad time (e.g. 2022-04-10T08:00)"))
}

pub(crate) fn local(t: DateTime<Utc>) -> String {
    match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(o) => t.with_timezone(&o).format("%Y-%m-%d %H:%M").to_string(),
        None => t.format("%Y-%m-%d %H:%M").to_string(),
    }
}

fn reasons_json(reasons: &[Reason], lang: Lang) -> Vec<serde_json::Value> {
    reasons
        .iter()
        .map(|r| json!({"code": r.code, "colour": r.colour.as_str(), "text": lang.pick(&r.zh, &r.en)}))
        .collect()
}

fn colour_label(c: Colour, lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => c.zh(),
        Lang::En => c.en(),
    }
}

async fn area_name(ctx: &Ctx, code: &AreaCode) -> Result<String, AppError> {
    Ok(ctx.store.area(code).await?.map(|a| a.name).unwrap_or_else(|| code.to_string()))
}

// ---- policy --------------------------------------------------------------------------

async fn policy_page(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(Action::ManagePolicy, None).await?;
    policy_view(&ctx, None, String::new(), None).await
}

async fn policy_view(
    ctx: &Ctx,
    error: Option<String>,
    source: String,
    flash: Option<String>,
) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let setting = ctx.store.policy_setting().await?;
    let p = active_profile(ctx.store.as_ref()).await?;
    let shipped: Vec<_> = policy::SHIPPED
        .iter()
        .filter_map(|(n, src)| {
            Profile::parse(src).ok().map(|p| json!({"name": n, "title": lang.pick(&p.title_zh, &p.title_en)}))
        })
        .collect();
    let extra = json!({
        "profile": {
            "name": p.name, "title": lang.pick(&p.title_zh, &p.title_en),
            "red": p.colours.red.iter().map(|t| t.code()).collect::<Vec<_>>(),
            "yellow": p.colours.yellow.iter().map(|t| t.code()).collect::<Vec<_>>(),
            "close": p.close_contact, "secondary": p.secondary_contact, "zones": p.zones, "testing": p.testing,
            "token_days": p.codes.token_valid_days,
        },
        "setting": setting.map(|s| json!({"by": s.updated_by, "at": local(s.updated_at)})),
        "shipped": shipped,
        "error": error,
        "source": source,
        "flash": flash,
    });
    let status = if extra["error"].is_null() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, render(ctx, "codes/policy.html", "/codes/policy", extra)?).into_response())
}

#[derive(Deserialize)]
struct PolicyForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    source: String,
}

/// Checks a profile choice (a shipped name or uploaded TOML) and makes it active.
pub(crate) async fn switch_policy(ctx: &Ctx, profile: &str, source: &str) -> Result<Profile, AppError> {
    ctx.authorize(Action::ManagePolicy, None).await?;
    let src = if source.trim().is_empty() {
        policy::SHIPPED
            .iter()
            .find(|(n, _)| *n == profile.trim())
            .map(|(_, s)| s.to_string())
            .ok_or_else(|| field("policy_unknown", "profile", "未知的策略配置", "unknown policy profile"))?
    } else {
        source.to_string()
    };
    let parsed = Profile::parse(&src).map_err(|e| AppError::Field(e.field_error()))?;
    let setting = PolicySetting {
        name: parsed.name.clone(),
        source: src,
        updated_at: ctx.now,
        updated_by: ctx.user.username.clone(),
    };
    let entry = ctx.entry("policy.switch", "district", "policy", format!("active profile: {}", parsed.name));
    ctx.store.set_policy(&setting, &entry).await?;
    Ok(parsed)
}

async fn policy_switch(ctx: Ctx, Form(f): Form<PolicyForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    match switch_policy(&ctx, &f.profile, &f.source).await {
        Ok(p) => {
            let msg = format!("{}{}", text(ctx.meta.lang, "codes.policy.switched"), p.name);
            policy_view(&ctx, None, String::new(), Some(msg)).await
        }
        Err(AppError::Field(e)) => {
            let lang = ctx.meta.lang;
            policy_view(&ctx, Some(lang.pick(&e.zh, &e.en).to_string()), f.source, None).await
        }
        Err(e) => Err(e),
    }
}

// ---- zones ---------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct ZonesQuery {
    #[serde(default)]
    area: String,
    saved: Option<String>,
}

async fn zones_page(ctx: Ctx, Query(q): Query<ZonesQuery>) -> Result<Response, AppError> {
    ctx.authorize(Action::ViewAreaTree, None).await?;
    let lang = ctx.meta.lang;
    let mut open = Vec::new();
    let mut history = Vec::new();
    for root in &ctx.principal.roots {
        for z in ctx.store.zones(root, true, true).await? {
            let row = json!({
                "id": z.id, "area": z.area, "name": area_name(&ctx, &z.area).await?, "level": z.level.as_str(),
                "level_label": lang.pick(z.level.zh(), z.level.en()), "reason": z.reason, "starts_at": local(z.starts_at),
                "ends_at": z.ends_at.map(local), "by": z.designated_by,
            });
            if z.ends_at.is_none() && z.level != ZoneLevel::Low {
                open.push(row.clone());
            }
            history.push(row);
        }
    }
    let profile = active_profile(ctx.store.as_ref()).await?;
    let levels: Vec<_> = ZoneLevel::ALL
        .into_iter()
        .filter(|l| profile.allows_zone(*l))
        .map(|l| json!({"value": l.as_str(), "label": lang.pick(l.zh(), l.en())}))
        .collect();
    let extra = json!({
        "open": open, "history": history, "levels": levels, "area": q.area,
        "can_manage": Action::ManageZones.allowed(ctx.principal.role),
        "flash": q.saved.map(|_| text(lang, "codes.zone.saved")),
        "now": chrono::FixedOffset::east_opt(8 * 3600).map(|o| ctx.now.with_timezone(&o).format("%Y-%m-%dT%H:%M").to_string()),
    });
    Ok(render(&ctx, "codes/zones.html", "/zones", extra)?.into_response())
}

#[derive(Deserialize)]
pub(crate) struct ZoneForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    pub area_code: String,
    pub level: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub starts_at: String,
}

pub(crate) async fn designate(ctx: &Ctx, f: &ZoneForm) -> Result<cordon_domain::zone::RiskZone, AppError> {
    let area = AreaCode::parse(&f.area_code)?;
    ctx.authorize(Action::ManageZones, Some(&area)).await?;
    if ctx.store.area(&area).await?.is_none() {
        return Err(AppError::NotFound("area"));
    }
    let level = ZoneLevel::parse(&f.level)?;
    let profile = active_profile(ctx.store.as_ref()).await?;
    if !profile.allows_zone(level) {
        return Err(field(
            "zone_level_disabled",
            "level",
            &format!("当前策略（{}）不设中风险区", profile.name),
            &format!("the active profile ({}) has no medium-risk zones", profile.name),
        ));
    }
    let starts = parse_time(&f.starts_at, "starts_at", ctx.now)?;
    let zone = NewZone::new(area.clone(), level, &f.reason, starts, &ctx.user.username, ctx.now)?;
    let entry = ctx.entry(
        "zone.designate",
        "area",
        area.as_str(),
        format!("{} from {}", level.as_str(), zone.starts_at.to_rfc3339()),
    );
    Ok(ctx.store.designate_zone(&zone, &entry).await?)
}

async fn zone_designate(ctx: Ctx, Form(f): Form<ZoneForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let z = designate(&ctx, &f).await?;
    Ok(Redirect::to(&format!("/zones?saved=1&area={}", z.area)).into_response())
}

// ---- a resident's code ---------------------------------------------------------------

pub(crate) async fn resident_code(
    ctx: &Ctx,
    id: i64,
) -> Result<(cordon_domain::registry::Resident, Colour, Vec<Reason>, String), AppError> {
    let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Action::ViewCode, Some(&r.unit)).await?;
    let today = cordon_domain::clock::DistrictTz::default().today(ctx.now);
    let state = ctx.store.person_state(id, ctx.now, today).await?.unwrap_or_default();
    let profile = active_profile(ctx.store.as_ref()).await?;
    let (c, reasons) = colour::colour(&state, &profile, ctx.now);
    let token = issue_token(ctx.store.as_ref(), SubjectKind::Person, id, ctx.now).await?;
    Ok((r, c, reasons, token))
}

async fn code_page(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let (r, c, reasons, token) = resident_code(&ctx, id).await?;
    ctx.audit("code.read", "resident", &id.to_string(), c.as_str()).await?;
    let lang = ctx.meta.lang;
    let profile = active_profile(ctx.store.as_ref()).await?;
    let extra = json!({
        "r": {"id": r.id, "name": r.name.as_str(), "name_masked": r.name.masked(), "id_masked": r.id_number.masked(), "building": r.unit.parent()},
        "colour": c.as_str(), "colour_label": colour_label(c, lang), "reasons": reasons_json(&reasons, lang),
        "qr": qr_svg(&token, 240), "token": token, "profile": profile.name,
        "at": local(ctx.now),
    });
    Ok(render(&ctx, "codes/code.html", &format!("/residents/{id}"), extra)?.into_response())
}

async fn code_svg(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let (_, c, _, token) = resident_code(&ctx, id).await?;
    ctx.audit("code.read", "resident", &id.to_string(), c.as_str()).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "no-store")], qr_svg(&token, 160))
        .into_response())
}

// ---- printable code cards ------------------------------------------------------------

async fn cards_page(ctx: Ctx, Path(code): Path<String>) -> Result<Response, AppError> {
    let building = AreaCode::parse(&code)?;
    if building.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Action::PrintCodeCards, Some(&building)).await?;
    let b = ctx.store.area(&building).await?.ok_or(AppError::NotFound("building"))?;
    let roster = ctx.store.building_roster(&building).await?;
    let mut cards = Vec::new();
    for h in &roster {
        for m in h.members.iter().filter(|m| m.status == cordon_domain::registry::ResidentStatus::Active) {
            let token = issue_token(ctx.store.as_ref(), SubjectKind::Person, m.id, ctx.now).await?;
            cards.push(json!({
                "name": m.name.masked(), "id_masked": m.id_number.masked(), "unit": h.unit_name, "room": h.room,
                "qr": qr_svg(&token, 150),
            }));
        }
    }
    let profile = active_profile(ctx.store.as_ref()).await?;
    ctx.audit("code_cards.print", "building", building.as_str(), format!("{} cards", cards.len())).await?;
    let pages: Vec<_> = cards.chunks(8).map(|c| c.to_vec()).collect();
    let extra = json!({
        "building": {"code": building, "name": b.name}, "pages": pages, "count": cards.len(),
        "valid_until": local(ctx.now + Duration::days(i64::from(profile.codes.token_valid_days))),
    });
    Ok(render(&ctx, "codes/cards.html", &format!("/buildings/{building}"), extra)?.into_response())
}

// ---- checkpoints ---------------------------------------------------------------------

async fn visible_checkpoints(ctx: &Ctx) -> Result<Vec<Checkpoint>, AppError> {
    if ctx.principal.role == Role::CheckpointGuard {
        Ok(ctx.store.checkpoints_of_guard(ctx.user.id).await?)
    } else {
        let mut roots = ctx.principal.roots.clone();
        // Border checkpoints sit on the district: everyone who manages checkpoints sees them.
        if let Some(d) = roots.first().and_then(|r| r.lineage().first().cloned()) {
            roots.push(d);
        }
        let all = ctx.store.checkpoints_under(&roots).await?;
        Ok(all.into_iter().filter(|c| c.is_border() || ctx.principal.covers(&c.area)).collect())
    }
}

async fn checkpoints_page(ctx: Ctx) -> Result<Response, AppError> {
    let role = ctx.principal.role;
    if !Action::ScanCheckpoint.allowed(role) && !Action::ManageCheckpoints.allowed(role) {
        ctx.authorize(Action::ManageCheckpoints, None).await?;
    }
    let cps = visible_checkpoints(&ctx).await?;
    if let ([only], Role::CheckpointGuard) = (cps.as_slice(), role) {
        return Ok(Redirect::to(&format!("/checkpoints/{}/scan", only.id)).into_response());
    }
    let mut rows = Vec::new();
    for c in &cps {
        let mut guards = Vec::new();
        for g in &c.guards {
            if let Some(u) = ctx.store.user(*g).await? {
                guards.push(u.username);
            }
        }
        rows.push(json!({"id": c.id, "name": c.name, "area": c.area, "area_name": area_name(&ctx, &c.area).await?, "border": c.is_border(), "guards": guards}));
    }
    let extra = json!({"checkpoints": rows, "can_manage": Action::ManageCheckpoints.allowed(role)});
    Ok(render(&ctx, "codes/checkpoints.html", "/checkpoints", extra)?.into_response())
}

#[derive(Deserialize)]
struct CheckpointForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
    area_code: String,
}

async fn checkpoint_create(ctx: Ctx, Form(f): Form<CheckpointForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let area = AreaCode::parse(&f.area_code)?;
    let new = NewCheckpoint::new(&f.name, area.clone(), ctx.now)?;
    // A border checkpoint is the district's; a gate needs the compound in scope.
    ctx.authorize(Action::ManageCheckpoints, Some(&area)).await?;
    if ctx.store.area(&area).await?.is_none() {
        return Err(AppError::NotFound("area"));
    }
    let entry = ctx.entry("checkpoint.create", "area", area.as_str(), new.name.clone());
    ctx.store.create_checkpoint(&new, &entry).await?;
    Ok(Redirect::to("/checkpoints").into_response())
}

#[derive(Deserialize)]
struct AssignForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    username: String,
}

async fn checkpoint_assign(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<AssignForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let cp = ctx.store.checkpoint(id).await?.ok_or(AppError::NotFound("checkpoint"))?;
    ctx.authorize(Action::ManageCheckpoints, Some(&cp.area)).await?;
    let user = ctx.store.user_by_username(f.username.trim()).await?.ok_or(AppError::NotFound("user"))?;
    let guard_scope_ok = match &user.scope {
        cordon_domain::UserScope::Area(a) => cp.is_border() || a.contains(&cp.area) || cp.area.contains(a),
        cordon_domain::UserScope::Grid(_) => false,
    };
    if user.role != Role::CheckpointGuard || !guard_scope_ok {
        return Err(field(
            "guard_mismatch",
            "username",
            "只能分配本小区的卡口值守人员",
            "only a checkpoint guard of this compound can be assigned",
        ));
    }
    let entry = ctx.entry("checkpoint.assign", "checkpoint", &cp.id.to_string(), format!("guard user {}", user.id));
    ctx.store.assign_guard(cp.id, user.id, &entry).await?;
    Ok(Redirect::to("/checkpoints").into_response())
}

async fn recent(ctx: &Ctx, cp: &Checkpoint) -> Result<Vec<serde_json::Value>, AppError> {
    let lang = ctx.meta.lang;
    let mut out = Vec::new();
    for s in ctx.store.recent_scans(cp.id, 10).await? {
        let name = match s.scan.resident_id {
            Some(id) => ctx.store.resident(id).await?.map(|r| r.name.masked()),
            None => None,
        };
        out.push(json!({
            "at": local(s.scan.at), "direction": text(lang, if s.scan.direction == Direction::In { "codes.scan.in" } else { "codes.scan.out" }),
            "allowed": s.scan.allowed, "code": s.scan.code, "colour": s.scan.colour.map(|c| c.as_str()), "name": name,
        }));
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
struct ScanQuery {
    #[serde(default)]
    direction: String,
}

async fn scan_page(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<ScanQuery>) -> Result<Response, AppError> {
    let cp = checkpoint_for_scan(&ctx, id).await?;
    let direction = Direction::parse(&q.direction);
    scan_view(&ctx, &cp, direction, None).await
}

async fn scan_view(
    ctx: &Ctx,
    cp: &Checkpoint,
    direction: Direction,
    outcome: Option<&ScanOutcome>,
) -> Result<Response, AppError> {
    let lang = ctx.meta.lang;
    let result = outcome.map(|o| {
        json!({
            "allowed": o.allowed, "code": o.code, "message": lang.pick(&o.message_zh, &o.message_en),
            "colour": o.colour.map(|c| c.as_str()).unwrap_or("invalid"),
            "colour_label": o.colour.map(|c| colour_label(c, lang)).unwrap_or_else(|| if lang == Lang::Zh { "无效码" } else { "Invalid code" }),
            "name": o.name_masked, "id_masked": o.id_masked, "reasons": reasons_json(&o.reasons, lang),
            "pass": o.pass_id,
        })
    });
    let extra = json!({
        "cp": {"id": cp.id, "name": cp.name, "area_name": area_name(ctx, &cp.area).await?},
        "direction": direction.as_str(), "result": result, "recent": recent(ctx, cp).await?,
    });
    Ok(render(ctx, "codes/scan.html", "/checkpoints", extra)?.into_response())
}

#[derive(Deserialize)]
struct ScanForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    direction: String,
}

async fn scan_submit(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<ScanForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let cp = checkpoint_for_scan(&ctx, id).await?;
    let direction = Direction::parse(&f.direction);
    let outcome = scan(ctx.store.as_ref(), &cp, &f.token, direction, Some(ctx.user.id), ctx.now).await?;
    scan_view(&ctx, &cp, direction, Some(&outcome)).await
}

// ---- venues --------------------------------------------------------------------------

async fn venues_page(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(Action::VenueCheckin, None).await?;
    let lang = ctx.meta.lang;
    let mut rows = Vec::new();
    for v in ctx.store.venues_under(&ctx.principal.roots).await? {
        rows.push(json!({"id": v.id, "name": v.name, "kind": lang.pick(v.kind.zh(), v.kind.en()), "area_name": area_name(&ctx, &v.area).await?}));
    }
    let kinds: Vec<_> =
        VenueKind::ALL.iter().map(|k| json!({"value": k.as_str(), "label": lang.pick(k.zh(), k.en())})).collect();
    let extra =
        json!({"venues": rows, "kinds": kinds, "can_manage": Action::ManageCheckpoints.allowed(ctx.principal.role)});
    Ok(render(&ctx, "codes/venues.html", "/venues", extra)?.into_response())
}

#[derive(Deserialize)]
struct VenueForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
    kind: String,
    area_code: String,
}

async fn venue_create(ctx: Ctx, Form(f): Form<VenueForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let area = AreaCode::parse(&f.area_code)?;
    ctx.authorize(Action::ManageCheckpoints, Some(&area)).await?;
    if ctx.store.area(&area).await?.is_none() {
        return Err(AppError::NotFound("area"));
    }
    let new = NewVenue::new(&f.name, VenueKind::parse(&f.kind)?, area.clone(), ctx.now)?;
    let entry = ctx.entry("venue.create", "area", area.as_str(), new.name.clone());
    let v = ctx.store.create_venue(&new, &entry).await?;
    Ok(Redirect::to(&format!("/venues/{}", v.id)).into_response())
}

/// The content of a venue's own QR (场所码): the district and the venue id.
pub fn venue_code(district: &str, id: i64) -> String {
    format!("CORDON-VENUE:{district}:{id}")
}

#[derive(Deserialize, Default)]
struct VisitsQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    result: String,
}

async fn venue_for(ctx: &Ctx, id: i64) -> Result<cordon_store::codes::Venue, AppError> {
    let v = ctx.store.venue(id).await?.ok_or(AppError::NotFound("venue"))?;
    ctx.authorize(Action::VenueCheckin, Some(&v.area)).await?;
    Ok(v)
}

async fn venue_page(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<VisitsQuery>) -> Result<Response, AppError> {
    let v = venue_for(&ctx, id).await?;
    let lang = ctx.meta.lang;
    let from = parse_time(&q.from, "from", ctx.now - Duration::days(1))?;
    let to = parse_time(&q.to, "to", ctx.now + Duration::minutes(1))?;
    let mut visits = Vec::new();
    for c in ctx.store.venue_visits(v.id, from, to).await? {
        let name = ctx.store.resident(c.resident_id).await?.map(|r| r.name.masked());
        visits.push(json!({"at": local(c.at), "resident_id": c.resident_id, "name": name}));
    }
    ctx.audit("venue.visits.read", "venue", &v.id.to_string(), format!("{} visits", visits.len())).await?;
    let district = v.area.lineage().first().map(|d| d.to_string()).unwrap_or_default();
    let extra = json!({
        "v": {"id": v.id, "name": v.name, "kind": lang.pick(v.kind.zh(), v.kind.en()), "area_name": area_name(&ctx, &v.area).await?},
        "qr": qr_svg(&venue_code(&district, v.id), 200), "visits": visits,
        "from": local(from).replace(' ', "T"), "to": local(to).replace(' ', "T"),
        "result": if q.result.is_empty() { None } else { Some(q.result) },
    });
    Ok(render(&ctx, "codes/venue.html", "/venues", extra)?.into_response())
}

/// Records a check-in of a scanned resident token; refusals are reported, not errors.
pub(crate) async fn checkin(
    ctx: &Ctx,
    v: &cordon_store::codes::Venue,
    token: &str,
) -> Result<Result<i64, (String, String, String)>, AppError> {
    match verify_token(ctx.store.as_ref(), token, ctx.now).await? {
        Err(e) => Ok(Err((e.code().into(), e.zh().into(), e.en().into()))),
        Ok(c) if c.kind != SubjectKind::Person => {
            Ok(Err(("token_not_person".into(), "请扫描居民的健康码".into(), "scan a resident's health code".into())))
        }
        Ok(c) => {
            if ctx.store.resident(c.subject).await?.is_none() {
                return Ok(Err((
                    "token_unknown_person".into(),
                    "码对应的居民不在名册中".into(),
                    "the code's person is not on the register".into(),
                )));
            }
            let ci = ctx.store.record_checkin(v.id, c.subject, ctx.now).await?;
            Ok(Ok(ci.resident_id))
        }
    }
}

#[derive(Deserialize)]
struct CheckinForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    token: String,
}

async fn venue_checkin(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<CheckinForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let v = venue_for(&ctx, id).await?;
    let lang = ctx.meta.lang;
    let msg = match checkin(&ctx, &v, &f.token).await? {
        Ok(_) => text(lang, "codes.venue.checked_in"),
        Err((_, zh, en)) => lang.pick(&zh, &en).to_string(),
    };
    Ok(Redirect::to(&format!("/venues/{id}?result={}", crate::urlencode(&msg))).into_response())
}

// ---- passes --------------------------------------------------------------------------

fn pass_json(p: &Pass, lang: Lang, now: DateTime<Utc>) -> serde_json::Value {
    let status = if p.revoked_at.is_some() {
        "codes.pass.revoked"
    } else if now >= p.valid_until {
        "codes.pass.expired"
    } else if now < p.valid_from {
        "codes.pass.pending"
    } else {
        "codes.pass.valid"
    };
    json!({
        "id": p.id, "holder": p.holder_label, "vehicle": matches!(p.holder, Holder::Vehicle(_)), "purpose": p.purpose,
        "scope": p.scope.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "from": local(p.valid_from), "until": local(p.valid_until),
        "issuer": p.issuer, "issued_at": local(p.issued_at), "revoked_at": p.revoked_at.map(local),
        "revoke_reason": p.revoke_reason, "status": text(lang, status), "active": status == "codes.pass.valid",
    })
}

/// The issuance log an issuer may see: passes whose scope lies in their subtree.
async fn visible_passes(ctx: &Ctx, limit: u32) -> Result<Vec<Pass>, AppError> {
    let all = ctx.store.passes(limit).await?;
    Ok(all.into_iter().filter(|p| p.scope.iter().any(|s| ctx.principal.covers(s))).collect())
}

async fn passes_page(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(Action::IssuePass, None).await?;
    let lang = ctx.meta.lang;
    let rows: Vec<_> = visible_passes(&ctx, 500).await?.iter().map(|p| pass_json(p, lang, ctx.now)).collect();
    ctx.audit("passes.read", "route", "/passes", format!("{} passes", rows.len())).await?;
    let cst = chrono::FixedOffset::east_opt(8 * 3600);
    let fmt = |t: DateTime<Utc>| cst.map(|o| t.with_timezone(&o).format("%Y-%m-%dT%H:%M").to_string());
    let extra = json!({
        "passes": rows, "scope_default": ctx.principal.roots.first(),
        "from_default": fmt(ctx.now), "until_default": fmt(ctx.now + Duration::days(7)),
    });
    Ok(render(&ctx, "codes/passes.html", "/passes", extra)?.into_response())
}

#[derive(Deserialize)]
pub(crate) struct PassForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    /// `person` or `vehicle`.
    pub holder_kind: String,
    #[serde(default)]
    pub resident_id: Option<String>,
    #[serde(default)]
    pub plate: String,
    pub purpose: String,
    /// Area codes separated by spaces or commas.
    pub scope: String,
    #[serde(default)]
    pub valid_from: String,
    #[serde(default)]
    pub valid_until: String,
}

pub(crate) async fn issue(ctx: &Ctx, f: &PassForm) -> Result<Pass, AppError> {
    ctx.authorize(Action::IssuePass, None).await?;
    let mut scope = Vec::new();
    for s in f.scope.split(|c: char| c == ',' || c == '，' || c.is_whitespace()).filter(|s| !s.is_empty()) {
        let code = AreaCode::parse(s).map_err(|e| e.on_field("scope"))?;
        // Within the issuer's scope only.
        ctx.authorize(Action::IssuePass, Some(&code)).await?;
        scope.push(code);
    }
    let (holder, label) = match f.holder_kind.as_str() {
        "vehicle" => {
            let plate = parse_plate(&f.plate)?;
            (Holder::Vehicle(plate.clone()), plate)
        }
        _ => {
            let id: i64 = f
                .resident_id
                .as_deref()
                .unwrap_or("")
                .trim()
                .parse()
                .map_err(|_| field("resident_id", "resident_id", "请填写居民编号", "give the resident's id"))?;
            let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
            (Holder::Person(r.id), r.name.masked())
        }
    };
    let new = NewPass {
        holder,
        holder_label: label,
        purpose: f.purpose.clone(),
        scope,
        valid_from: parse_time(&f.valid_from, "valid_from", ctx.now)?,
        valid_until: parse_time(&f.valid_until, "valid_until", ctx.now + Duration::days(7))?,
        issuer_id: ctx.user.id,
        issuer: ctx.user.username.clone(),
        issued_at: ctx.now,
    }
    .check(active_profile(ctx.store.as_ref()).await?.passes.longest_days)?;
    let entry = ctx.entry(
        "pass.issue",
        "pass",
        "",
        format!("{} pass, {} areas, until {}", f.holder_kind, new.scope.len(), new.valid_until.to_rfc3339()),
    );
    Ok(ctx.store.issue_pass(&new, &entry).await?)
}

async fn pass_issue(ctx: Ctx, Form(f): Form<PassForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let p = issue(&ctx, &f).await?;
    Ok(Redirect::to(&format!("/passes/{}", p.id)).into_response())
}

pub(crate) async fn pass_for(ctx: &Ctx, id: i64) -> Result<Pass, AppError> {
    ctx.authorize(Action::IssuePass, None).await?;
    let p = ctx.store.pass(id).await?.ok_or(AppError::NotFound("pass"))?;
    let first = p.scope.first().cloned().ok_or(AppError::NotFound("pass"))?;
    if !p.scope.iter().any(|s| ctx.principal.covers(s)) {
        ctx.authorize(Action::IssuePass, Some(&first)).await?;
    }
    Ok(p)
}

async fn pass_page(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let p = pass_for(&ctx, id).await?;
    let token = issue_token(ctx.store.as_ref(), SubjectKind::Pass, p.id, ctx.now).await?;
    ctx.audit("pass.read", "pass", &id.to_string(), "").await?;
    let extra = json!({"p": pass_json(&p, ctx.meta.lang, ctx.now), "qr": qr_svg(&token, 220), "token": token});
    Ok(render(&ctx, "codes/pass.html", "/passes", extra)?.into_response())
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    #[serde(default)]
    pub reason: String,
}

pub(crate) async fn revoke(ctx: &Ctx, id: i64, reason: &str) -> Result<Pass, AppError> {
    let p = pass_for(ctx, id).await?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(field("revoke_reason", "reason", "请填写吊销原因", "give a reason for revoking"));
    }
    let entry = ctx.entry("pass.revoke", "pass", &p.id.to_string(), "revoked");
    Ok(ctx.store.revoke_pass(p.id, ctx.now, &ctx.user.username, reason, &entry).await?)
}

async fn pass_revoke(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<RevokeForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    revoke(&ctx, id, &f.reason).await?;
    Ok(Redirect::to(&format!("/passes/{id}")).into_response())
}

fn csv_field(s: &str) -> String {
    // Quote everything; a leading formula character is defused for spreadsheet programs.
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    format!("\"{}\"", s.replace('"', "\"\""))
}

async fn passes_export(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(Action::IssuePass, None).await?;
    let passes = visible_passes(&ctx, 100_000).await?;
    let mut out = String::from(
        "\u{feff}编号 id,持证人 holder,类型 kind,用途 purpose,范围 scope,生效 valid_from,失效 valid_until,签发人 issuer,签发时间 issued_at,吊销时间 revoked_at,吊销人 revoked_by,吊销原因 reason\n",
    );
    for p in &passes {
        let kind = if matches!(p.holder, Holder::Vehicle(_)) { "vehicle" } else { "person" };
        let scope: Vec<&str> = p.scope.iter().map(|s| s.as_str()).collect();
        let row = [
            p.id.to_string(),
            p.holder_label.clone(),
            kind.to_string(),
            p.purpose.clone(),
            scope.join(" "),
            p.valid_from.to_rfc3339(),
            p.valid_until.to_rfc3339(),
            p.issuer.clone(),
            p.issued_at.to_rfc3339(),
            p.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            p.revoked_by.clone().unwrap_or_default(),
            p.revoke_reason.clone().unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    ctx.audit("passes.export", "route", "/passes/export.csv", format!("{} passes", passes.len())).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"passes.csv\""),
        ],
        out,
    )
        .into_response())
}

/// Zones open on or above `code` for the area tree's badges (used by pages.rs).
pub(crate) async fn zone_badges(ctx: &Ctx, code: &AreaCode) -> Result<Vec<serde_json::Value>, AppError> {
    let lang = ctx.meta.lang;
    let zones = ctx.store.zones(code, true, false).await?;
    Ok(zones
        .into_iter()
        .filter(|z| z.level != ZoneLevel::Low && z.active_at(ctx.now))
        .map(|z| json!({"area": z.area, "level": z.level.as_str(), "label": lang.pick(z.level.zh(), z.level.en()), "reason": z.reason}))
        .collect())
}

/// Whether the area page may offer "designate a zone here".
pub(crate) fn can_designate(ctx: &Ctx, code: &AreaCode) -> bool {
    authorize(&ctx.principal, Action::ManageZones, Some(code)).is_ok()
}

/// (key, 中文, English)
pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("nav.codes.zones", "风险区", "Risk zones"),
    ("nav.codes.checkpoints", "卡口", "Checkpoints"),
    ("nav.codes.venues", "场所码", "Venues"),
    ("nav.codes.passes", "通行证", "Passes"),
    ("nav.codes.policy", "防控策略", "Policy"),
    ("codes.policy.title", "防控策略配置", "Policy profile"),
    ("codes.policy.active", "当前策略", "Active profile"),
    ("codes.policy.switch", "切换策略", "Switch profile"),
    ("codes.policy.switched", "已切换为：", "Now active: "),
    ("codes.policy.upload", "或粘贴其他策略文件（TOML）", "Or paste another profile (TOML)"),
    ("codes.policy.apply", "应用", "Apply"),
    ("codes.policy.red", "红码条件", "Red when"),
    ("codes.policy.yellow", "黄码条件", "Yellow when"),
    ("codes.policy.close", "密接", "Close contacts"),
    ("codes.policy.secondary", "次密接", "Secondary contacts"),
    ("codes.policy.none", "不适用", "not traced"),
    ("codes.policy.centralised", "集中隔离（天）", "Centralised (days)"),
    ("codes.policy.home", "居家（天）", "Home (days)"),
    ("codes.policy.test_days", "检测日", "Test days"),
    ("codes.policy.zones", "风险区时钟", "Zone clock"),
    ("codes.policy.high_days", "高风险区连续无新增（天）", "High: days without a new infection"),
    ("codes.policy.steps_to", "降为", "Steps down to"),
    ("codes.policy.medium_after_high", "由高降中后再（天）降为低", "Medium after high: days to low"),
    ("codes.policy.medium_days", "中风险区（天）降为低", "Medium: days to low"),
    ("codes.policy.pool", "混采管默认人数", "Default pool size"),
    ("codes.policy.token_days", "码有效期（天）", "Code validity (days)"),
    ("codes.policy.updated", "最近修改", "Last changed"),
    ("codes.zone.title", "风险区划定", "Risk zones"),
    ("codes.zone.open", "现行风险区", "Zones in force"),
    ("codes.zone.history", "划定记录", "History"),
    ("codes.zone.area", "区域编码", "Area code"),
    ("codes.zone.level", "风险等级", "Level"),
    ("codes.zone.reason", "理由", "Reason"),
    ("codes.zone.starts", "开始时间", "Starts"),
    ("codes.zone.ends", "结束时间", "Ended"),
    ("codes.zone.by", "划定人", "By"),
    ("codes.zone.submit", "划定", "Designate"),
    ("codes.zone.saved", "已划定，居民码色即时生效", "Designated; residents' codes follow at once"),
    ("codes.zone.none", "暂无风险区", "No zones"),
    ("codes.zone.designate_here", "划定风险区", "Designate a zone"),
    ("codes.code.title", "健康码", "Health code"),
    ("codes.code.reasons", "原因", "Reasons"),
    ("codes.code.none", "无异常", "Nothing applies"),
    ("codes.code.profile", "依据策略", "Profile"),
    ("codes.code.at", "核验时间", "Checked at"),
    (
        "codes.code.note",
        "码中不含颜色，扫码时按最新规则实时判定。",
        "The code carries no colour: it is decided live at every scan.",
    ),
    ("codes.cards.title", "纸质码卡", "Code cards"),
    ("codes.cards.print", "打印码卡", "Print code cards"),
    (
        "codes.cards.help",
        "A4纸打印，每页8张，沿虚线剪开，发给无智能手机的居民。",
        "Print on A4, 8 cards a page, cut along the dashed lines, hand to residents without smartphones.",
    ),
    ("codes.cards.valid_until", "有效期至", "Valid until"),
    ("codes.cards.count", "张", "cards"),
    ("codes.cp.title", "卡口", "Checkpoints"),
    ("codes.cp.name", "名称", "Name"),
    ("codes.cp.area", "位置", "Where"),
    ("codes.cp.border", "区界", "District border"),
    ("codes.cp.guards", "值守人员", "Guards"),
    ("codes.cp.create", "新建卡口", "New checkpoint"),
    ("codes.cp.area_code", "小区编码（或区编码=区界卡口）", "Compound code (or the district code for a border)"),
    ("codes.cp.assign", "分配值守", "Assign guard"),
    ("codes.cp.username", "用户名", "Username"),
    ("codes.cp.open", "扫码", "Scan"),
    ("codes.cp.none", "暂无卡口", "No checkpoints"),
    ("codes.scan.title", "卡口扫码", "Checkpoint scan"),
    ("codes.scan.input", "扫码或输入码（扫码枪扫描后自动提交）", "Scan or type the code (a scanner submits on Enter)"),
    ("codes.scan.in", "进", "In"),
    ("codes.scan.out", "出", "Out"),
    ("codes.scan.direction", "方向", "Direction"),
    ("codes.scan.submit", "核验", "Check"),
    ("codes.scan.pass", "放行", "PASS"),
    ("codes.scan.deny", "禁止通行", "DENY"),
    ("codes.scan.recent", "最近扫码", "Last scans"),
    ("codes.scan.next", "继续扫下一个", "Scan the next one"),
    ("codes.scan.id", "证件号", "ID"),
    ("codes.venue.title", "场所码", "Venues"),
    ("codes.venue.name", "场所名称", "Name"),
    ("codes.venue.kind", "类型", "Kind"),
    ("codes.venue.area", "所在区域编码", "Area code"),
    ("codes.venue.create", "新建场所", "New venue"),
    ("codes.venue.checkin", "扫码登记", "Check in (scan a resident's code)"),
    ("codes.venue.checked_in", "已登记", "Checked in"),
    ("codes.venue.visits", "到访记录", "Visits"),
    ("codes.venue.from", "自", "From"),
    ("codes.venue.to", "至", "To"),
    ("codes.venue.query", "查询", "Query"),
    ("codes.venue.none", "暂无场所", "No venues"),
    ("codes.pass.title", "通行证", "Passes"),
    ("codes.pass.issue", "签发通行证", "Issue a pass"),
    ("codes.pass.log", "发放记录", "Issuance log"),
    ("codes.pass.export", "导出发放记录", "Export the log"),
    ("codes.pass.holder", "持证人", "Holder"),
    ("codes.pass.person", "人员（居民编号）", "Person (resident id)"),
    ("codes.pass.vehicle", "车辆（车牌号）", "Vehicle (plate)"),
    ("codes.pass.purpose", "用途", "Purpose"),
    ("codes.pass.scope", "通行范围（区域编码，空格分隔）", "Areas it opens (codes, space-separated)"),
    ("codes.pass.from", "生效时间", "Valid from"),
    ("codes.pass.until", "失效时间", "Valid until"),
    ("codes.pass.issuer", "签发人", "Issuer"),
    ("codes.pass.status", "状态", "Status"),
    ("codes.pass.valid", "有效", "valid"),
    ("codes.pass.pending", "未生效", "not yet valid"),
    ("codes.pass.expired", "已过期", "expired"),
    ("codes.pass.revoked", "已吊销", "revoked"),
    ("codes.pass.revoke", "吊销", "Revoke"),
    ("codes.pass.revoke_reason", "吊销原因", "Reason"),
    ("codes.pass.none", "暂无通行证", "No passes"),
    ("codes.pass.kind", "类型", "Kind"),
    ("colour.green", "绿码", "Green"),
    ("colour.yellow", "黄码", "Yellow"),
    ("colour.red", "红码", "Red"),
];
