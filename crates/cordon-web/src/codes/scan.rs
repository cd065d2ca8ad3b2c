//! The checkpoint scan: the one decision ([`scan`]) the guard page and the device API
//! share — verify the token, decide from the person's colour and passes, log the scan —
//! and the guard page and the device API themselves.

use super::{area_name, colour_label, local, reasons_json, verify_against};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::{Lang, Message, text};
use crate::routes::Route;
use crate::shell::render;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use chrono::{DateTime, Utc};
use cordon_domain::Role;
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::colour::{self, Colour, Decision, Direction, Reason};
use cordon_domain::containment::zoneclock;
use cordon_domain::error::Denied;
use cordon_domain::pass::{Holder, Pass};
use cordon_domain::security::device_time;
use cordon_domain::token::{self, SubjectKind, TokenError};
use cordon_store::Store;
use cordon_store::codes::{Checkpoint, PersonContext, PolicySetting, Scan, ScanContext, ScanSubject, VenueKind};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/checkpoints/{id}/scan", Action::ScanCheckpoint, scan_page),
        Route::post("/checkpoints/{id}/scan", Action::ScanCheckpoint, scan_submit),
        Route::post("/api/v1/checkpoints/{id}/scans", Action::ScanCheckpoint, scans).body_limit(512 * 1024),
    ]
}

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] = &[
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
];

/// What a guard (or a device) is shown after a scan.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ScanOutcome {
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

fn denial(code: &str, zh: &str, en: &str) -> Decision {
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
    direction: Direction,
    now: DateTime<Utc>,
    via_pass: Option<&Pass>,
) -> Result<Verdict, AppError> {
    let Some(person) = person else {
        return Ok(Verdict::invalid(denial(
            "token_unknown_person",
            "码对应的居民不在本区名册中，禁止通行",
            "the code's person is not on the register: refused",
        )));
    };
    let r = &person.resident;
    let profile = crate::policy::profile_of(policy.cloned())?;
    let (c, reasons) = colour::colour(&person.state, &profile, now);
    // Only a yellow code can be let through on a pass: green needs none, red never.
    let pass_ok = match (via_pass, c) {
        (Some(_), _) => true,
        (None, Colour::Yellow) => person.passes.iter().any(|p| p.check(&cp.area, now).is_ok()),
        (None, _) => false,
    };
    let site = if c == Colour::Green { None } else { nearest_sampling_site(store, &cp.area).await? };
    // What to do next follows the worst reason, in the profile's words.
    let decision = colour::decide_with(c, &reasons, &person.state, pass_ok, site.as_deref(), &profile);
    // Zones act on movement, not only on colour: a high zone's residents stay home (足不
    // 出户), a medium zone's stay inside their compound, unless they hold a pass.
    let passes_here = via_pass.is_some() || person.passes.iter().any(|p| p.check(&cp.area, now).is_ok());
    let movement = zoneclock::movement(person.state.zone.as_ref(), &r.unit, &cp.area, direction, passes_here, &profile);
    let decision = zoneclock::with_movement(decision, movement);
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
pub(super) async fn scan(
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
async fn scan_at_checkpoint(
    ctx: &Ctx,
    id: i64,
    input: &str,
    direction: Direction,
    at: DateTime<Utc>,
) -> Result<ScanOutcome, AppError> {
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
        Err(e) => Verdict::invalid(denial(e.code(), e.zh(), e.en())),
        Ok(claims) => match claims.kind {
            SubjectKind::Person => person_verdict(store, person, policy, cp, direction, now, None).await?,
            SubjectKind::Pass => match pass {
                None => Verdict::invalid(denial("pass_unknown", "通行证不存在，禁止通行", "no such pass: refused")),
                Some(p) => match p.check(&cp.area, now) {
                    Err(problem) => Verdict {
                        subject: ScanSubject::Pass,
                        pass_id: Some(p.id),
                        name: Some(p.holder_label.clone()),
                        ..Verdict::invalid(denial(problem.code(), problem.zh(), problem.en()))
                    },
                    // A person's pass is checked alongside their health code.
                    Ok(()) => match p.holder {
                        Holder::Person(_) => {
                            person_verdict(store, person, policy, cp, direction, now, Some(&p)).await?
                        }
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
                            ..Verdict::invalid(denial("", "", ""))
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
async fn checkpoint_for_scan(ctx: &Ctx, id: i64) -> Result<Checkpoint, AppError> {
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
        ctx.authorize(Some(&cp.area)).await?;
    }
    Ok(cp)
}

// ---- the guard page --------------------------------------------------------------------

/// A decision's code in words, for the guard's list of recent scans.
pub(super) fn code_words(code: &str, allowed: bool, lang: Lang) -> String {
    let (zh, en) = match code {
        "green" => ("绿码", "green code"),
        "pass_holder" => ("黄码，持有效通行证", "yellow code, valid pass"),
        "yellow" => ("黄码", "yellow code"),
        "red" => ("红码", "red code"),
        "pass_valid" => ("车辆通行证有效", "valid vehicle pass"),
        "zone_stay_home" => ("封控区，足不出户", "locked-down zone: stays at home"),
        "zone_stay_in_compound" => ("管控区，不出小区", "controlled zone: stays in the compound"),
        "token_malformed" => ("无法识别的码", "unreadable code"),
        "token_other_district" => ("外区的码", "code of another district"),
        "token_unknown_key" | "token_forged" => ("伪造的码", "forged code"),
        "token_key_revoked" => ("码的密钥已吊销", "code of a revoked key"),
        "token_expired" => ("码已过期", "expired code"),
        "token_unknown_person" => ("不在本区名册", "not on the register"),
        "token_not_person" => ("不是居民的健康码", "not a resident's code"),
        "pass_unknown" => ("通行证不存在", "no such pass"),
        "pass_revoked" => ("通行证已吊销", "pass revoked"),
        "pass_not_yet_valid" => ("通行证尚未生效", "pass not valid yet"),
        "pass_expired" => ("通行证已过期", "pass expired"),
        "pass_out_of_scope" => ("通行证不适用于本卡口", "pass not for this checkpoint"),
        _ if allowed => ("放行", "let through"),
        _ => ("禁止通行", "refused"),
    };
    lang.pick(zh, en).to_string()
}

/// The verdict's colour key and label: a code's colour; a pass without one is a valid or an
/// invalid pass (never "invalid code" next to "let through"); anything else an invalid code.
fn verdict_label(o: &ScanOutcome, lang: Lang) -> (&'static str, String) {
    match (o.colour, o.subject, o.allowed) {
        (Some(c), _, _) => (c.as_str(), colour_label(c, lang).to_string()),
        (None, ScanSubject::Pass, true) => ("pass", lang.pick("通行证有效", "Valid pass").to_string()),
        (None, ScanSubject::Pass, false) => ("invalid", lang.pick("通行证无效", "Invalid pass").to_string()),
        (None, _, _) => ("invalid", lang.pick("无效码", "Invalid code").to_string()),
    }
}

async fn recent(ctx: &Ctx, cp: &Checkpoint) -> Result<Vec<serde_json::Value>, AppError> {
    let lang = ctx.meta.lang;
    let mut out = Vec::new();
    for s in ctx.store.recent_scans(cp.id, 10).await? {
        let name = match (s.scan.resident_id, s.scan.pass_id) {
            (Some(id), _) => ctx.store.resident(id).await?.map(|r| r.name.masked()),
            // A vehicle pass: its plate.
            (None, Some(id)) => ctx.store.pass(id).await?.map(|p| p.holder_label),
            (None, None) => None,
        };
        out.push(json!({
            "at": local(s.scan.at), "direction": text(lang, if s.scan.direction == Direction::In { "codes.scan.in" } else { "codes.scan.out" }),
            "allowed": s.scan.allowed, "code": s.scan.code, "words": code_words(&s.scan.code, s.scan.allowed, lang),
            "colour": s.scan.colour.map(|c| c.as_str()), "name": name,
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
            "colour": verdict_label(o, lang).0, "colour_label": verdict_label(o, lang).1,
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
    let direction = Direction::parse_strict(&f.direction)?;
    let outcome = scan(ctx.store.as_ref(), &cp, &f.token, direction, Some(ctx.user.id), ctx.now).await?;
    scan_view(&ctx, &cp, direction, Some(&outcome)).await
}

// ---- the device API --------------------------------------------------------------------

/// Largest batch a scanner may send at once.
pub const MAX_BATCH: usize = 500;

#[derive(Deserialize, ToSchema)]
pub(super) struct OneScan {
    token: String,
    #[serde(default)]
    direction: Option<String>,
    /// When the device scanned it (offline queues); default: now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum ScanBody {
    Batch { scans: Vec<OneScan> },
    One(OneScan),
}

fn outcome_json(o: &ScanOutcome) -> serde_json::Value {
    json!(o)
}

#[utoipa::path(post, path = "/api/v1/checkpoints/{id}/scans", params(("id" = i64, Path, description = "checkpoint")), request_body = ScanBody,
    responses((status = 200, description = "the decision: colour, reasons, masked name and ID, pass or deny with where to go (a batch: `results`)"), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn scans(ctx: Ctx, Path(id): Path<i64>, Json(body): Json<ScanBody>) -> Result<Response, AppError> {
    // A device time is believed within the profile's bounds ([`device_time`]); the profile
    // is read only when a device sent one (an online scanner sends none).
    let rules = match &body {
        ScanBody::One(OneScan { at: Some(_), .. }) => Some(crate::policy::active_profile(ctx.store.as_ref()).await?),
        ScanBody::Batch { scans } if scans.iter().any(|s| s.at.is_some()) => {
            Some(crate::policy::active_profile(ctx.store.as_ref()).await?)
        }
        _ => None,
    };
    let one = |s: &OneScan| -> Result<_, AppError> {
        let dir = Direction::parse_strict(s.direction.as_deref().unwrap_or("in"))?;
        let at = match (&rules, s.at) {
            (Some(p), at @ Some(_)) => device_time(at, ctx.now, &p.security),
            _ => ctx.now,
        };
        Ok((s.token.clone(), dir, at))
    };
    match body {
        ScanBody::One(s) => {
            let (token, dir, at) = one(&s)?;
            // The checkpoint is read with the scan's data and admitted before the verdict.
            let o = scan_at_checkpoint(&ctx, id, &token, dir, at).await?;
            Ok(Json(outcome_json(&o)).into_response())
        }
        ScanBody::Batch { scans } => {
            if scans.len() > MAX_BATCH {
                return Err(AppError::BadRequest {
                    code: "batch_too_large",
                    zh: format!("一次最多提交{MAX_BATCH}条扫码记录"),
                    en: format!("at most {MAX_BATCH} scans per batch"),
                });
            }
            let parsed = scans.iter().map(one).collect::<Result<Vec<_>, _>>()?;
            let cp = checkpoint_for_scan(&ctx, id).await?;
            let mut results = Vec::with_capacity(scans.len());
            for (token, dir, at) in parsed {
                results.push(outcome_json(&scan(ctx.store.as_ref(), &cp, &token, dir, Some(ctx.user.id), at).await?));
            }
            Ok(Json(json!({"results": results})).into_response())
        }
    }
}
