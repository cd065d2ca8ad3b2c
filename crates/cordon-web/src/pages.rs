//! Server-rendered pages. Each handler: resolve who is asking ([`Ctx`]), authorize, read
//! or change through the store (audited), render.

use crate::auth::{self, Ctx};
use crate::error::AppError;
use crate::i18n::{Lang, text};
use crate::{AppState, RequestMeta, static_asset};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::{Duration, NaiveDate, Utc};
use cordon_domain::area::{AreaCode, AreaLevel};
use cordon_domain::authz::{Action, authorize};
use cordon_domain::registry::{Correction, NewResident, Resident, ResidentFlags, ResidentStatus, parse_room};
use cordon_domain::{IdNumber, PersonName, Phone};
use cordon_sheets::{Format, ImportMode};
use cordon_store::{AuditFilter, ResidentQuery, Session};
use minijinja::Value;
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang/{tag}", get(switch_lang))
        .route("/static/{name}", get(|Path(name): Path<String>| async move { static_asset(&name) }))
        .route("/areas", get(areas_root))
        .route("/areas/{code}", get(area_page))
        .route("/buildings/{code}", get(roster_page))
        .route("/buildings/{code}/visitors", post(add_visitor))
        .route("/residents/{id}", get(resident_page))
        .route("/residents/{id}/corrections", post(correct))
        .route("/search", get(search_page))
        .route("/import", get(import_page).post(import_upload))
        .route("/export", get(export_download))
        .route("/audit", get(audit_page))
}

/// Variables every page shares: language, who is logged in, navigation, CSRF token.
fn page(ctx: &Ctx, here: &str, extra: serde_json::Value) -> Value {
    let lang = ctx.meta.lang;
    let p = &ctx.principal;
    let mut nav = vec![];
    let mut push = |href: String, key: &str| {
        let active = here == href || (href != "/" && here.starts_with(&href));
        nav.push(json!({"href": href, "label": text(lang, key), "active": active}));
    };
    if p.role == cordon_domain::Role::BuildingLeader
        && let Some(root) = p.roots.first()
    {
        push(format!("/buildings/{root}"), "area.roster");
    }
    push("/areas".into(), "nav.tree");
    if Action::SearchResidents.allowed(p.role) {
        push("/search".into(), "nav.search");
    }
    if Action::ImportResidents.allowed(p.role) {
        push("/import".into(), "nav.import");
    }
    // ---- health codes (issue 4) ----
    if Action::ScanCheckpoint.allowed(p.role) || Action::ManageCheckpoints.allowed(p.role) {
        push("/checkpoints".into(), "nav.codes.checkpoints");
    }
    if Action::ManageZones.allowed(p.role) {
        push("/zones".into(), "nav.codes.zones");
    }
    if Action::VenueCheckin.allowed(p.role) {
        push("/venues".into(), "nav.codes.venues");
    }
    if Action::IssuePass.allowed(p.role) {
        push("/passes".into(), "nav.codes.passes");
    }
    if Action::ManagePolicy.allowed(p.role) {
        push("/codes/policy".into(), "nav.codes.policy");
    }
    // ---- mass testing (issue 3) ----
    if crate::testing::any_testing(p.role) {
        push("/testing".into(), "nav.testing");
    }
    if Action::ViewAudit.allowed(p.role) {
        push("/audit".into(), "nav.audit");
    }
    let mut base = json!({
        "lang": lang.tag(),
        "here": here,
        "request_id": ctx.meta.request_id,
        "csrf": ctx.csrf.clone().unwrap_or_default(),
        "me": {
            "username": ctx.user.username,
            "display_name": ctx.user.display_name,
            "role_label": lang.pick(ctx.user.role.zh(), ctx.user.role.en()),
            "scope_label": p.scope_label,
        },
        "nav": nav,
    });
    if let (Some(b), serde_json::Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    Value::from_serialize(&base)
}

fn today() -> NaiveDate {
    cordon_domain::clock::DistrictTz::default().today(Utc::now())
}

fn parse_code(s: &str) -> Result<AreaCode, AppError> {
    Ok(AreaCode::parse(s)?)
}

async fn home(ctx: Result<Ctx, AppError>) -> Response {
    match ctx {
        Ok(ctx) if ctx.principal.role == cordon_domain::Role::BuildingLeader => match ctx.principal.roots.first() {
            Some(root) => Redirect::to(&format!("/buildings/{root}")).into_response(),
            None => Redirect::to("/areas").into_response(),
        },
        Ok(_) => Redirect::to("/areas").into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}

// ---- login, logout, language ------------------------------------------------------------

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// Only local paths are followed after login or a language switch (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

fn login_form(
    state: &AppState,
    meta: &RequestMeta,
    next: &str,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let token = auth::new_token();
    let html = state.render(
        "login.html",
        minijinja::context! {
            lang => meta.lang.tag(), here => "/login", request_id => meta.request_id,
            login_csrf => token, next => next, username => username, error => error,
        },
    )?;
    let cookie = auth::set_cookie(auth::LOGIN_CSRF_COOKIE, &token, 3600, state.settings.secure_cookies, true);
    Ok((status, [(header::SET_COOKIE, cookie)], html).into_response())
}

async fn login_page(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    login_form(&state, &meta, &safe_next(q.next.as_deref()), "", None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, AppError> {
    let expected = auth::cookie(&headers, auth::LOGIN_CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !auth::same_token(expected, &f.csrf) {
        return Err(AppError::Csrf);
    }
    let now = Utc::now();
    let username = f.username.trim().to_string();
    let next = safe_next(Some(&f.next));
    let store = &state.store;
    let failures = store.login_failures_since(&username, now - Duration::minutes(auth::THROTTLE_MINUTES)).await?;
    if failures >= auth::MAX_FAILURES {
        tracing::warn!(username = %username, "login throttled");
        return login_form(
            &state,
            &meta,
            &next,
            &username,
            Some(text(meta.lang, "login.throttled")),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let user = store.user_by_username(&username).await?;
    let ok = match &user {
        Some(u) => auth::verify_password(&f.password, &u.password_hash),
        None => {
            // Same work either way, so timing does not reveal which usernames exist.
            let _ = auth::verify_password(&f.password, DUMMY_HASH);
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        store.record_login_failure(&username, now).await?;
        store
            .append_audit(&[cordon_domain::audit::AuditEntry {
                at: now,
                actor_id: None,
                actor: username.clone(),
                role: None,
                action: "login.failed".into(),
                target_kind: "user".into(),
                target: username.clone(),
                request_id: meta.request_id.clone(),
                detail: String::new(),
            }])
            .await?;
        return login_form(
            &state,
            &meta,
            &next,
            &username,
            Some(text(meta.lang, "login.failed")),
            StatusCode::UNAUTHORIZED,
        );
    };
    store.clear_login_failures(&username).await?;
    let token = auth::new_token();
    let session = Session {
        token_hash: auth::token_hash(&token),
        user_id: user.id,
        csrf_token: auth::new_token(),
        created_at: now,
        expires_at: now + Duration::hours(auth::SESSION_HOURS),
    };
    store.create_session(&session).await?;
    store
        .append_audit(&[cordon_domain::audit::AuditEntry {
            at: now,
            actor_id: Some(user.id),
            actor: user.username.clone(),
            role: Some(user.role),
            action: "login".into(),
            target_kind: "user".into(),
            target: user.id.to_string(),
            request_id: meta.request_id.clone(),
            detail: String::new(),
        }])
        .await?;
    let cookie =
        auth::set_cookie(auth::SESSION_COOKIE, &token, auth::SESSION_HOURS * 3600, state.settings.secure_cookies, true);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

/// An argon2id hash of a random string, verified against when the username is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0n4D0jJxhNMbTt8FQ0h0uVJmCpK7Y1mBsbZpwNQ3Pzs";

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    if let Some(token) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        state.store.delete_session(&auth::token_hash(token)).await?;
    }
    let cookie = auth::set_cookie(auth::SESSION_COOKIE, "", 0, state.settings.secure_cookies, true);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

async fn switch_lang(State(state): State<AppState>, Path(tag): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let lang = Lang::from_tag(&tag);
    let cookie = auth::set_cookie(auth::LANG_COOKIE, lang.tag(), 365 * 24 * 3600, state.settings.secure_cookies, false);
    ([(header::SET_COOKIE, cookie)], Redirect::to(&safe_next(q.next.as_deref()))).into_response()
}

// ---- areas ----------------------------------------------------------------------------

fn area_href(code: &AreaCode, role: cordon_domain::Role) -> String {
    if code.level() == AreaLevel::Building && Action::ViewRoster.allowed(role) {
        format!("/buildings/{code}")
    } else {
        format!("/areas/{code}")
    }
}

async fn areas_root(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(Action::ViewAreaTree, None).await?;
    let roots = ctx.principal.roots.clone();
    if let [only] = roots.as_slice() {
        return Ok(Redirect::to(&area_href(only, ctx.principal.role)).into_response());
    }
    let mut rows = Vec::new();
    for code in &roots {
        if let Some(s) = ctx.store.area_summary(code).await? {
            rows.push(json!({"code": code, "name": s.area.name, "residents": s.residents, "households": s.households, "href": area_href(code, ctx.principal.role)}));
        }
    }
    Ok(render(&ctx, "roots.html", "/areas", json!({"roots": rows}))?.into_response())
}

pub(crate) fn render(ctx: &Ctx, tpl: &str, here: &str, extra: serde_json::Value) -> Result<Html<String>, AppError> {
    let t = crate::templates::environment_cached()
        .get_template(tpl)
        .map_err(|e| AppError::Store(cordon_store::StoreError::Backend(format!("template: {e}"))))?;
    t.render(page(ctx, here, extra))
        .map(Html)
        .map_err(|e| AppError::Store(cordon_store::StoreError::Backend(format!("template: {e}"))))
}

/// Breadcrumbs from the district down to `code`; nodes outside the principal's subtree are
/// named but not linked.
async fn crumbs(ctx: &Ctx, code: &AreaCode) -> Result<Vec<serde_json::Value>, AppError> {
    let mut out = Vec::new();
    for c in code.lineage() {
        if let Some(a) = ctx.store.area(&c).await? {
            out.push(json!({"code": c, "name": a.name, "link": ctx.principal.covers(&c) && c != *code}));
        }
    }
    Ok(out)
}

async fn area_page(ctx: Ctx, Path(code): Path<String>) -> Result<Response, AppError> {
    let code = parse_code(&code)?;
    ctx.authorize(Action::ViewAreaTree, Some(&code)).await?;
    let summary = ctx.store.area_summary(&code).await?.ok_or(AppError::NotFound("area"))?;
    let lang = ctx.meta.lang;
    let children: Vec<_> = ctx
        .store
        .children(&code)
        .await?
        .into_iter()
        .map(|c| {
            let href = area_href(&c.area.code, ctx.principal.role);
            json!({"code": c.area.code, "name": c.area.name, "residents": c.residents, "households": c.households, "href": href})
        })
        .collect();
    let grids: Vec<_> = if code.level() == AreaLevel::Community {
        ctx.store
            .grids_under(&code)
            .await?
            .into_iter()
            .map(|g| json!({"name": g.name, "worker_name": g.worker_name, "buildings": g.buildings.len()}))
            .collect()
    } else {
        vec![]
    };
    let level = code.level();
    let extra = json!({
        "area": {"code": code, "name": summary.area.name, "level_label": lang.pick(level.zh(), level.as_str())},
        "summary": {"residents": summary.residents, "households": summary.households},
        "children": children,
        "grids": grids,
        "crumbs": crumbs(&ctx, &code).await?,
        "can_export": authorize(&ctx.principal, Action::ExportResidents, Some(&code)).is_ok(),
        "zones": crate::codes::zone_badges(&ctx, &code).await?,
        "can_designate": crate::codes::can_designate(&ctx, &code),
    });
    Ok(render(&ctx, "area.html", "/areas", extra)?.into_response())
}

// ---- building roster ----------------------------------------------------------------------

fn flag_labels(r: &Resident, lang: Lang, today: NaiveDate, elderly_age: u32) -> Vec<String> {
    let mut v = Vec::new();
    if r.is_elderly(today, elderly_age) {
        v.push(text(lang, "flag.elderly"));
    }
    if r.flags.bedridden {
        v.push(text(lang, "flag.bedridden"));
    }
    if r.flags.no_smartphone {
        v.push(text(lang, "flag.no_smartphone"));
    }
    if r.flags.temporary {
        v.push(text(lang, "flag.temporary"));
    }
    v
}

async fn roster_page(ctx: Ctx, Path(code): Path<String>) -> Result<Response, AppError> {
    let code = parse_code(&code)?;
    if code.level() != AreaLevel::Building {
        return Err(AppError::NotFound("building"));
    }
    ctx.authorize(Action::ViewRoster, Some(&code)).await?;
    let building = ctx.store.area(&code).await?.ok_or(AppError::NotFound("building"))?;
    let roster = ctx.store.building_roster(&code).await?;
    ctx.audit("roster.read", "building", code.as_str(), format!("{} households", roster.len())).await?;
    let lang = ctx.meta.lang;
    let today = today();
    let elderly_age = crate::codes::active_profile(ctx.store.as_ref()).await?.testing.elderly_age;
    let (mut residents, mut with_phone, mut door) = (0, 0, 0);
    let mut units: Vec<serde_json::Value> = Vec::new();
    let mut current: Option<(String, Vec<serde_json::Value>)> = None;
    for h in &roster {
        let members: Vec<_> = h
            .members
            .iter()
            .map(|m| {
                if m.status == ResidentStatus::Active {
                    residents += 1;
                    with_phone += usize::from(m.phone.is_some());
                    door += usize::from(m.needs_door_service(today, elderly_age));
                }
                json!({
                    "id": m.id, "name": m.name.as_str(),
                    "sex": lang.pick(m.sex().zh(), m.sex().en()), "age": m.age(today),
                    "phone": m.phone.as_ref().map(|p| p.as_str()),
                    "flags": flag_labels(m, lang, today, elderly_age), "status": m.status.as_str(),
                })
            })
            .collect();
        let hh = json!({"room": h.room, "members": members});
        match &mut current {
            Some((name, list)) if *name == h.unit_name => list.push(hh),
            _ => {
                if let Some((name, list)) = current.take() {
                    units.push(json!({"name": name, "households": list}));
                }
                current = Some((h.unit_name.clone(), vec![hh]));
            }
        }
    }
    if let Some((name, list)) = current.take() {
        units.push(json!({"name": name, "households": list}));
    }
    let leader = match ctx.store.building_leader(&code).await? {
        Some(l) => ctx
            .store
            .resident(l.resident_id)
            .await?
            .map(|r| json!({"name": r.name.as_str(), "phone": r.phone.map(|p| p.as_str().to_string())})),
        None => None,
    };
    let all_units: Vec<_> = ctx
        .store
        .children(&code)
        .await?
        .into_iter()
        .map(|u| json!({"code": u.area.code, "name": u.area.name}))
        .collect();
    let extra = json!({
        "building": {"code": code, "name": building.name},
        "crumbs": crumbs(&ctx, &code).await?,
        "leader": leader,
        "stats": {"households": roster.len(), "residents": residents, "with_phone": with_phone, "without_phone": residents - with_phone, "door": door},
        "units": units,
        "all_units": all_units,
        "can_edit": Action::EditResident.allowed(ctx.principal.role),
        "can_export": authorize(&ctx.principal, Action::ExportResidents, Some(&code)).is_ok(),
        "zones": crate::codes::zone_badges(&ctx, &code).await?,
        "can_designate": crate::codes::can_designate(&ctx, &code),
        "can_print_cards": authorize(&ctx.principal, Action::PrintCodeCards, Some(&code)).is_ok(),
    });
    Ok(render(&ctx, "roster.html", &format!("/buildings/{code}"), extra)?.into_response())
}

#[derive(Deserialize)]
struct VisitorForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    unit: String,
    room: String,
    name: String,
    id_number: String,
    #[serde(default)]
    phone: String,
}

async fn add_visitor(ctx: Ctx, Path(code): Path<String>, Form(f): Form<VisitorForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let building = parse_code(&code)?;
    let unit = AreaCode::parse(&f.unit).map_err(|e| e.on_field("unit"))?;
    if !building.contains(&unit) || unit.level() != AreaLevel::Unit {
        return Err(AppError::Field(cordon_domain::FieldError::new(
            "unit_not_in_building",
            "unit",
            "单元不属于该楼栋",
            "the unit is not in this building",
        )));
    }
    ctx.authorize(Action::EditResident, Some(&unit)).await?;
    let new = NewResident {
        unit,
        room: parse_room(&f.room)?,
        name: PersonName::parse(&f.name)?,
        id_number: IdNumber::parse(&f.id_number)?,
        phone: if f.phone.trim().is_empty() { None } else { Some(Phone::parse(&f.phone)?) },
        flags: ResidentFlags { temporary: true, ..Default::default() },
    };
    let entry = ctx.entry("resident.create", "building", building.as_str(), "temporary visitor registered");
    let ids = ctx.store.register_residents(&[new], &entry).await?;
    let id = ids.first().copied().unwrap_or_default();
    Ok(Redirect::to(&format!("/residents/{id}?saved=1")).into_response())
}

// ---- resident detail and corrections -------------------------------------------------------

async fn load_resident(ctx: &Ctx, id: i64, action: Action) -> Result<Resident, AppError> {
    let r = ctx.store.resident(id).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(action, Some(&r.unit)).await?;
    Ok(r)
}

/// "滨河街道 凤山社区 滨河小区 3号楼 2单元 1203"
pub(crate) async fn address(ctx: &Ctx, unit: &AreaCode, room: &str) -> Result<String, AppError> {
    let mut parts = Vec::new();
    for c in unit.lineage().iter().skip(1) {
        if let Some(a) = ctx.store.area(c).await? {
            parts.push(a.name);
        }
    }
    parts.push(room.to_string());
    Ok(parts.join(" "))
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    saved: Option<String>,
}

async fn resident_page(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<SavedQuery>) -> Result<Response, AppError> {
    let r = load_resident(&ctx, id, Action::ViewResident).await?;
    ctx.audit("resident.read", "resident", &id.to_string(), "").await?;
    let lang = ctx.meta.lang;
    let today = today();
    let elderly_age = crate::codes::active_profile(ctx.store.as_ref()).await?.testing.elderly_age;
    let building = r.unit.parent().unwrap_or_else(|| r.unit.clone());
    let extra = json!({
        "r": {
            "id": r.id, "name": r.name.as_str(), "id_number": r.id_number.as_str(),
            "sex": lang.pick(r.sex().zh(), r.sex().en()), "birth_date": r.birth_date().to_string(), "age": r.age(today),
            "phone": r.phone.as_ref().map(|p| p.as_str()), "address": address(&ctx, &r.unit, &r.room).await?,
            "building": building, "flags": flag_labels(&r, lang, today, elderly_age), "status": r.status.as_str(),
            "status_label": text(lang, if r.status == ResidentStatus::Active { "status.active" } else { "status.moved_out" }),
            "temporary": r.flags.temporary, "bedridden": r.flags.bedridden, "no_smartphone": r.flags.no_smartphone,
        },
        "can_edit": authorize(&ctx.principal, Action::EditResident, Some(&r.unit)).is_ok(),
        "flash": q.saved.map(|_| text(lang, "correct.done")),
    });
    Ok(render(&ctx, "resident.html", &format!("/residents/{id}"), extra)?.into_response())
}

#[derive(Deserialize)]
struct CorrectionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    kind: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    bedridden: Option<String>,
    #[serde(default)]
    no_smartphone: Option<String>,
}

/// Turns a form or API request into a domain correction.
pub(crate) fn correction_from(
    kind: &str,
    phone: &str,
    bedridden: bool,
    no_smartphone: bool,
) -> Result<Correction, AppError> {
    Ok(match kind {
        "moved_out" => Correction::MovedOut,
        "returned" => Correction::Returned,
        "temporary_on" => Correction::SetTemporary { temporary: true },
        "temporary_off" => Correction::SetTemporary { temporary: false },
        "phone" => {
            Correction::SetPhone { phone: if phone.trim().is_empty() { None } else { Some(Phone::parse(phone)?) } }
        }
        "flags" => Correction::SetFlags { bedridden, no_smartphone },
        other => {
            return Err(AppError::Field(cordon_domain::FieldError::new(
                "correction_kind",
                "kind",
                format!("未知的更正类型：{other}"),
                format!("unknown correction: {other}"),
            )));
        }
    })
}

/// The audit entry of a correction, wherever it is made (the resident page, the API, a
/// door knock's wrong-data outcome).
pub(crate) fn correction_entry(ctx: &Ctx, resident_id: i64, c: &Correction) -> cordon_domain::audit::AuditEntry {
    ctx.entry("resident.update", "resident", &resident_id.to_string(), c.audit_detail())
}

async fn correct(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<CorrectionForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let r = load_resident(&ctx, id, Action::EditResident).await?;
    let c = correction_from(&f.kind, &f.phone, f.bedridden.is_some(), f.no_smartphone.is_some())?;
    let entry = correction_entry(&ctx, r.id, &c);
    ctx.store.correct_resident(r.id, &c, &entry).await?;
    Ok(Redirect::to(&format!("/residents/{id}?saved=1")).into_response())
}

// ---- search -------------------------------------------------------------------------------

/// Decides what typed text means: a full ID number, a full mobile number, or a name.
pub(crate) fn classify_query(q: &str) -> Result<ResidentQuery, cordon_domain::FieldError> {
    let t = q.trim();
    if let Ok(id) = IdNumber::parse(t) {
        return Ok(ResidentQuery::IdNumber(id));
    }
    if let Ok(p) = Phone::parse(t) {
        return Ok(ResidentQuery::Phone(p.as_str().to_string()));
    }
    if !t.is_empty() && !t.chars().any(|c| c.is_ascii_digit() || c.is_ascii_punctuation()) {
        return Ok(ResidentQuery::NamePrefix(t.to_string()));
    }
    Err(cordon_domain::FieldError::new(
        "query_format",
        "q",
        "请输入姓名，或完整的18位身份证号、11位手机号",
        "type a name, or a full 18-character ID number or 11-digit phone number",
    ))
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search_page(ctx: Ctx, Query(sq): Query<SearchQuery>) -> Result<Response, AppError> {
    ctx.authorize(Action::SearchResidents, None).await?;
    let lang = ctx.meta.lang;
    let mut results = Vec::new();
    let mut error = None;
    let searched = !sq.q.trim().is_empty();
    if searched {
        match classify_query(&sq.q) {
            Ok(query) => {
                let found = ctx.store.search_residents(&ctx.principal.roots, &query, 50).await?;
                // The query text may be an ID or phone number: the audit says only how many.
                ctx.audit("residents.search", "route", "/search", format!("{} results", found.len())).await?;
                for r in found {
                    let addr = address(&ctx, &r.unit, &r.room).await?;
                    results.push(json!({"id": r.id, "name": r.name.as_str(), "id_masked": r.id_number.masked(), "address": addr}));
                }
            }
            Err(e) => error = Some(lang.pick(&e.zh, &e.en).to_string()),
        }
    }
    Ok(render(
        &ctx,
        "search.html",
        "/search",
        json!({"q": sq.q, "results": results, "searched": searched, "error": error}),
    )?
    .into_response())
}

// ---- import / export ------------------------------------------------------------------------

async fn import_page(ctx: Ctx) -> Result<Response, AppError> {
    ctx.authorize(Action::ImportResidents, None).await?;
    Ok(render(&ctx, "import.html", "/import", json!({}))?.into_response())
}

async fn import_upload(ctx: Ctx, mut mp: Multipart) -> Result<Response, AppError> {
    ctx.authorize(Action::ImportResidents, None).await?;
    let mut csrf = String::new();
    let mut mode = ImportMode::AllOrNothing;
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e.status())),
        };
        match field.name().unwrap_or("") {
            "_csrf" => csrf = field.text().await.map_err(|e| multipart_error(e.status()))?,
            "mode" => {
                let v = field.text().await.map_err(|e| multipart_error(e.status()))?;
                if v == "valid_rows_only" {
                    mode = ImportMode::ValidRowsOnly;
                }
            }
            "file" => {
                let name = field.file_name().unwrap_or("").to_string();
                let bytes = field.bytes().await.map_err(|e| multipart_error(e.status()))?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    ctx.check_csrf(&csrf)?;
    let (name, bytes) = file.ok_or_else(|| AppError::BadRequest {
        code: "file_missing",
        zh: "请选择要导入的文件".into(),
        en: "choose a file to import".into(),
    })?;
    let format = Format::from_file_name(&name).ok_or_else(|| AppError::BadRequest {
        code: "file_type",
        zh: "只支持 .xlsx 和 .csv 文件".into(),
        en: "only .xlsx and .csv files are accepted".into(),
    })?;
    let report = cordon_sheets::import_residents(
        ctx.store.as_ref(),
        &ctx.principal,
        &bytes,
        format,
        mode,
        &ctx.meta.request_id,
        ctx.now,
    )
    .await?;
    let status = if report.committed { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&ctx, "import.html", "/import", json!({"report": report}))?).into_response())
}

fn multipart_error(status: StatusCode) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::Sheet(cordon_sheets::SheetError::TooLarge { limit: cordon_sheets::MAX_UPLOAD_BYTES })
    } else {
        AppError::BadRequest {
            code: "upload_invalid",
            zh: "上传的表单无效".into(),
            en: "the upload could not be read".into(),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ExportQuery {
    pub area: String,
    #[serde(default)]
    pub format: Option<String>,
}

pub(crate) async fn export_file(ctx: &Ctx, q: &ExportQuery) -> Result<Response, AppError> {
    let area = parse_code(&q.area)?;
    let format = match q.format.as_deref().unwrap_or("xlsx") {
        "csv" => Format::Csv,
        _ => Format::Xlsx,
    };
    let bytes = cordon_sheets::export_residents(
        ctx.store.as_ref(),
        &ctx.principal,
        &area,
        format,
        &ctx.meta.request_id,
        ctx.now,
    )
    .await?;
    let (ext, mime) = match format {
        Format::Csv => ("csv", "text/csv; charset=utf-8"),
        Format::Xlsx => ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    };
    let disposition = format!("attachment; filename=\"residents-{area}.{ext}\"");
    Ok(([(header::CONTENT_TYPE, mime.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}

async fn export_download(ctx: Ctx, Query(q): Query<ExportQuery>) -> Result<Response, AppError> {
    if let Ok(area) = AreaCode::parse(&q.area) {
        ctx.authorize(Action::ExportResidents, Some(&area)).await?;
    }
    export_file(&ctx, &q).await
}

// ---- audit ---------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    pub before: Option<i64>,
}

pub(crate) fn audit_filter(q: &AuditQuery, limit: u32) -> AuditFilter {
    let opt = |s: &str| if s.trim().is_empty() { None } else { Some(s.trim().to_string()) };
    AuditFilter { actor: opt(&q.actor), action: opt(&q.action), before_id: q.before, limit, ..Default::default() }
}

async fn audit_page(ctx: Ctx, Query(q): Query<AuditQuery>) -> Result<Response, AppError> {
    ctx.authorize(Action::ViewAudit, None).await?;
    let page_size = 100;
    let entries = ctx.store.audit_log(&audit_filter(&q, page_size)).await?;
    let older = if entries.len() as u32 == page_size { entries.last().map(|e| e.id) } else { None };
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "at": e.entry.at.format("%Y-%m-%d %H:%M:%S").to_string(), "actor": e.entry.actor,
                "role": e.entry.role.map(|r| r.code()), "action": e.entry.action,
                "target_kind": e.entry.target_kind, "target": e.entry.target,
                "detail": e.entry.detail, "request_id": e.entry.request_id,
            })
        })
        .collect();
    let extra = json!({"entries": rows, "older": older, "filter": {"actor": q.actor, "action": q.action}});
    Ok(render(&ctx, "audit.html", "/audit", extra)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/areas/141102")), "/areas/141102");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn query_kinds() {
        assert!(matches!(classify_query("11010519491231002x"), Ok(ResidentQuery::IdNumber(_))));
        assert!(matches!(classify_query("138 1234 5678"), Ok(ResidentQuery::Phone(_))));
        assert!(matches!(classify_query("张"), Ok(ResidentQuery::NamePrefix(_))));
        assert!(classify_query("1234").is_err());
    }
}
