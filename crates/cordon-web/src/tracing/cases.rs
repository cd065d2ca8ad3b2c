//! The tracer's job: the work list (cases and tasks by due time, overdue in red), cases
//! entered by hand, and the investigation page — the trajectory to confirm and complete,
//! the narrative and classification, candidates with their evidence confirmed or rejected
//! in bulk by class, contacts, the source link — with the JSON API the page's data comes
//! from.

use super::{act, local, no_store, refused, view, word};
use crate::auth::Ctx;
use crate::error::AppError;
use crate::routes::Route;
use crate::shell::render;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::tracing::{CandidateState, CaseStatus, Class, Classification, HowFound, Setting};
use cordon_domain::{IdNumber, PersonName, Phone};
use cordon_store::containment::QueueQuery;
use cordon_store::tracing::{Case, CaseDetail, CaseUpdate, NewCase, NewContact, NewPlace};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/tracing", Action::TraceCases, work_page),
        Route::post("/tracing/cases", Action::TraceCases, enter_case),
        Route::get("/tracing/cases/{id}", Action::TraceCases, case_page),
        Route::post("/tracing/cases/{id}", Action::TraceCases, update_case),
        Route::post("/tracing/cases/{id}/candidates", Action::TraceCases, decide),
        Route::post("/tracing/cases/{id}/places", Action::TraceCases, add_place),
        Route::post("/tracing/cases/{id}/contacts", Action::TraceCases, add_contact),
        Route::post("/tracing/cases/{id}/source", Action::TraceCases, link_source),
        Route::get("/tracing/cases/{id}/assist", Action::TraceCases, assist_letter),
        Route::get("/api/v1/cases", Action::TraceCases, api_cases),
        Route::get("/api/v1/cases/{id}", Action::TraceCases, api_case),
        Route::post("/api/v1/cases/{id}/candidates", Action::TraceCases, api_decide),
    ]
}

/// Longest free text a form field may carry before the store's own bounds.
const MAX_FIELD: usize = 20_000;

fn bounded(field: &'static str, s: &str, max: usize) -> Result<(), AppError> {
    if s.chars().count() > max {
        return Err(FieldError::new(
            "field_too_long",
            field,
            format!("内容过长（最多{max}字）"),
            format!("too long ({max} characters at most)"),
        )
        .into());
    }
    Ok(())
}

fn parse_local(ctx: &Ctx, field: &'static str, s: &str) -> Result<chrono::DateTime<Utc>, AppError> {
    let bad =
        || FieldError::new("time_invalid", field, "时间格式应为 YYYY-MM-DDTHH:MM", "time must be YYYY-MM-DDTHH:MM");
    let naive = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M").map_err(|_| bad())?;
    ctx.tz.offset().from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc)).ok_or_else(|| bad().into())
}

/// The case, authorized on its residence.
async fn load_case(ctx: &Ctx, id: i64) -> Result<CaseDetail, AppError> {
    let v = view(ctx).await?;
    let detail = ctx.store.case_detail(id, &v).await?.ok_or(AppError::NotFound("case"))?;
    ctx.authorize(Some(&detail.case.unit)).await?;
    Ok(detail)
}

fn case_json(ctx: &Ctx, c: &Case) -> Value {
    let lang = ctx.meta.lang;
    json!({"id": c.id, "name": c.name.masked(), "unit": c.unit.as_str(),
           "classification": c.classification.as_str(), "classification_label": word(lang, "cls", c.classification.as_str()),
           "how_found": word(lang, "found", c.how_found.as_str()), "status": c.status.as_str(),
           "status_label": word(lang, "cstatus", c.status.as_str()),
           "at": local(ctx, c.at), "onset": c.onset.map(|d| d.to_string()), "workplace": c.workplace,
           "known_before": c.known_before, "source_case": c.source_case, "cluster_id": c.cluster_id,
           "narrative": c.narrative, "core_done": c.core_done_at.map(|t| local(ctx, t))})
}

async fn work_page(ctx: Ctx) -> Result<Response, AppError> {
    let v = view(&ctx).await?;
    let lines = ctx.store.work_list(&ctx.principal.roots, 200, &v).await?;
    ctx.audit("cases.read", "area", &roots_label(&ctx.principal.roots), format!("{} cases", lines.len())).await?;
    let lang = ctx.meta.lang;
    let rows: Vec<Value> = lines
        .iter()
        .map(|l| {
            let tasks: Vec<Value> = l
                .tasks
                .iter()
                .map(|t| {
                    json!({"label": word(lang, "task", t.kind.as_str()), "due": local(&ctx, t.due_at),
                               "overdue": t.due_at < ctx.now})
                })
                .collect();
            json!({"case": case_json(&ctx, &l.case), "tasks": tasks, "due": l.due.map(|d| local(&ctx, d)),
                   "overdue": l.overdue, "waiting": l.candidates_waiting, "contacts": l.contacts})
        })
        .collect();
    let options = |all: &[&str], kind: &str| -> Vec<Value> {
        all.iter().map(|c| json!({"code": c, "label": word(lang, kind, c)})).collect()
    };
    let html = render(
        &ctx,
        "tracing/index.html",
        "/tracing",
        json!({"lines": rows,
               "classifications": options(&Classification::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(), "cls"),
               "found": options(&HowFound::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(), "found")}),
    )?;
    Ok(no_store(html))
}

fn roots_label(roots: &[AreaCode]) -> String {
    roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

#[derive(Deserialize)]
struct EnterForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    resident_id: String,
    classification: String,
    how_found: String,
    #[serde(default)]
    onset: String,
    #[serde(default)]
    workplace: String,
}

fn parse_date(field: &'static str, s: &str) -> Result<Option<NaiveDate>, AppError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map(Some).map_err(|_| {
        FieldError::new("date_invalid", field, "日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD").into()
    })
}

fn choice<T>(field: &'static str, s: &str, parse: fn(&str) -> Option<T>) -> Result<T, AppError> {
    parse(s.trim())
        .ok_or_else(|| FieldError::new("choice_invalid", field, "请选择有效选项", "choose a valid option").into())
}

async fn enter_case(ctx: Ctx, Form(f): Form<EnterForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    bounded("workplace", &f.workplace, 200)?;
    let rid: i64 =
        f.resident_id.trim().parse().map_err(|_| {
            FieldError::new("resident_invalid", "resident_id", "请填写居民编号", "give the resident's id")
        })?;
    let resident = ctx.store.resident(rid).await?.ok_or_else(|| {
        AppError::Field(FieldError::new("trace_resident_unknown", "resident_id", "未找到该居民", "no such resident"))
    })?;
    ctx.authorize(Some(&resident.unit)).await?;
    let new = NewCase {
        resident_id: rid,
        classification: choice("classification", &f.classification, Classification::parse)?,
        how_found: choice("how_found", &f.how_found, HowFound::parse)?,
        onset: parse_date("onset", &f.onset)?,
        workplace: f.workplace.trim().to_string(),
    };
    let case = ctx
        .store
        .enter_case(new, act(&ctx, "case.enter", "resident", &rid.to_string()).await?)
        .await?
        .map_err(refused)?;
    Ok(Redirect::to(&format!("/tracing/cases/{}", case.id)).into_response())
}

fn detail_json(ctx: &Ctx, d: &CaseDetail, profile: &cordon_domain::policy::Profile) -> Value {
    let lang = ctx.meta.lang;
    let places: Vec<Value> = d
        .places
        .iter()
        .map(|p| {
            json!({"id": p.id, "kind": p.kind.as_str(), "kind_label": word(lang, "place", p.kind.as_str()),
                   "label": p.label, "place_id": p.place_id, "from": local(ctx, p.from), "until": local(ctx, p.until),
                   "confirmed": p.confirmed, "exposure_site": p.exposure_site, "note": p.note,
                   "setting": p.setting.map(|s| word(lang, "setting", s.as_str()))})
        })
        .collect();
    let mut groups: Vec<Value> = Vec::new();
    for class in [Class::Close, Class::Secondary, Class::General] {
        let list: Vec<Value> = d
            .candidates
            .iter()
            .filter(|c| c.class == class && c.state == CandidateState::Proposed)
            .map(|c| {
                let ev = &c.evidence;
                let place = ev.place.and_then(|p| {
                    d.places.iter().find(|x| x.place_id == Some(p.id) && x.kind == p.kind).map(|x| x.label.clone())
                });
                json!({"id": c.id, "name": c.name.masked(), "unit": c.unit.as_str(),
                       "source": c.source.as_str(), "reason": word(lang, "source", c.source.as_str()),
                       "place": place, "tube": ev.tube_id, "seen_at": ev.at.map(|t| local(ctx, t)),
                       "case_at": ev.case_at.map(|t| local(ctx, t)), "last_exposure": local(ctx, c.last_exposure)})
            })
            .collect();
        if !list.is_empty() {
            groups.push(
                json!({"class": class.as_str(), "label": word(lang, "class", class.as_str()), "candidates": list}),
            );
        }
    }
    let decided = d.candidates.iter().filter(|c| c.state != CandidateState::Proposed).count();
    let contacts: Vec<Value> = d
        .contacts
        .iter()
        .map(|k| {
            let regime = k.class.regime(profile).map(|r| {
                format!(
                    "{} {} + {} {}",
                    r.centralised_days,
                    crate::i18n::text(lang, "tracing.days_centralised"),
                    r.home_days,
                    crate::i18n::text(lang, "tracing.days_home")
                )
            });
            json!({"id": k.id, "name": k.name.masked(), "resident_id": k.resident_id,
                   "unit": k.unit.as_ref().map(|u| u.as_str().to_string()), "class": k.class.as_str(),
                   "class_label": word(lang, "class", k.class.as_str()),
                   "setting": word(lang, "setting", k.setting.as_str()), "last_exposure": local(ctx, k.last_exposure),
                   "status": k.status.as_str(), "status_label": word(lang, "status", k.status.as_str()),
                   "elicited_by": k.elicited_by, "phone": k.phone.as_ref().map(|p| p.masked()),
                   "regime": regime.unwrap_or_else(|| crate::i18n::text(lang, "tracing.no_regime"))})
        })
        .collect();
    let tasks: Vec<Value> = d
        .tasks
        .iter()
        .map(|t| {
            json!({"id": t.id, "label": word(lang, "task", t.kind.as_str()), "due": local(ctx, t.due_at),
                       "done": t.done_at.map(|x| local(ctx, x)), "overdue": t.done_at.is_none() && t.due_at < ctx.now})
        })
        .collect();
    let history: Vec<Value> = d
        .history
        .iter()
        .map(|h| {
            json!({"from": h.from.map(|f| word(lang, "cls", f.as_str())), "to": word(lang, "cls", h.to.as_str()),
                       "at": local(ctx, h.at), "by": h.by})
        })
        .collect();
    json!({"case": case_json(ctx, &d.case), "places": places, "groups": groups, "decided": decided,
           "contacts": contacts, "tasks": tasks, "history": history, "downstream": d.downstream,
           "window_from": local(ctx, d.window_from)})
}

async fn case_page(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let d = load_case(&ctx, id).await?;
    ctx.audit("case.read", "case", &id.to_string(), "").await?;
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let lang = ctx.meta.lang;
    let opts = |codes: Vec<&'static str>, kind: &str, current: &str| -> Vec<Value> {
        codes.into_iter().map(|c| json!({"code": c, "label": word(lang, kind, c), "selected": c == current})).collect()
    };
    let mut data = detail_json(&ctx, &d, &profile);
    // Where each confirmed contact stands in the to-isolate queue (containment's).
    let ids: Vec<i64> = d.contacts.iter().map(|k| k.id).collect();
    let queue = ctx.store.isolation_queue(QueueQuery::Contacts(ids)).await?;
    if let Some(rows) = data["contacts"].as_array_mut() {
        for row in rows {
            let id = row["id"].as_i64().unwrap_or_default();
            if let Some(e) = queue.iter().find(|e| e.candidate.contact_id == id) {
                row["queue"] = json!(e.status.as_str());
                row["queue_label"] = json!(crate::i18n::text(lang, &format!("tracing.queue.{}", e.status.as_str())));
                row["deadline"] = json!(local(&ctx, e.candidate.deadline));
            }
        }
    }
    data["classifications"] =
        json!(opts(Classification::ALL.iter().map(|c| c.as_str()).collect(), "cls", d.case.classification.as_str()));
    data["statuses"] =
        json!(opts(CaseStatus::ALL.iter().map(|c| c.as_str()).collect(), "cstatus", d.case.status.as_str()));
    data["settings"] = json!(opts(Setting::ALL.iter().map(|c| c.as_str()).collect(), "setting", ""));
    let classes: Vec<&'static str> = Class::ALL
        .iter()
        .filter(|c| **c != Class::Secondary || profile.secondary_contact.is_some())
        .map(|c| c.as_str())
        .collect();
    data["classes"] = json!(opts(classes, "class", "close"));
    let html = render(&ctx, "tracing/case.html", "/tracing", data)?;
    Ok(no_store(html))
}

#[derive(Deserialize)]
struct UpdateForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    classification: String,
    status: String,
    #[serde(default)]
    onset: String,
    #[serde(default)]
    workplace: String,
    #[serde(default)]
    narrative: String,
    #[serde(default)]
    core_done: Option<String>,
}

async fn update_case(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<UpdateForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    bounded("narrative", &f.narrative, MAX_FIELD)?;
    bounded("workplace", &f.workplace, 200)?;
    load_case(&ctx, id).await?;
    let update = CaseUpdate {
        classification: Some(choice("classification", &f.classification, Classification::parse)?),
        status: Some(choice("status", &f.status, CaseStatus::parse)?),
        onset: parse_date("onset", &f.onset)?,
        workplace: Some(f.workplace),
        narrative: Some(f.narrative),
        core_done: f.core_done.is_some(),
        cluster_id: None,
    };
    ctx.store
        .update_case(id, update, act(&ctx, "case.update", "case", &id.to_string()).await?)
        .await?
        .map_err(refused)?;
    Ok(Redirect::to(&format!("/tracing/cases/{id}")).into_response())
}

/// The candidates ticked in a form (`candidate=…` repeated) and the decision.
fn picked(pairs: &[(String, String)], key: &str) -> Result<Vec<i64>, AppError> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| {
            v.trim().parse::<i64>().map_err(|_| {
                FieldError::new("candidate_invalid", "candidates", "候选编号无效", "invalid candidate id").into()
            })
        })
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

async fn decide(ctx: Ctx, Path(id): Path<i64>, Form(pairs): Form<Vec<(String, String)>>) -> Result<Response, AppError> {
    ctx.check_csrf(field(&pairs, "_csrf"))?;
    if pairs.len() > 5_000 {
        return Err(
            FieldError::new("candidates_many", "candidates", "一次最多处理5000人", "5,000 at most at once").into()
        );
    }
    load_case(&ctx, id).await?;
    let ids = picked(&pairs, "candidate")?;
    let confirm = field(&pairs, "decision") == "confirm";
    let what = if confirm { "candidates.confirm" } else { "candidates.reject" };
    ctx.store
        .decide_candidates(id, ids, confirm, act(&ctx, what, "case", &id.to_string()).await?)
        .await?
        .map_err(refused)?;
    Ok(Redirect::to(&format!("/tracing/cases/{id}#candidates")).into_response())
}

async fn add_place(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    ctx.check_csrf(field(&pairs, "_csrf"))?;
    load_case(&ctx, id).await?;
    if !field(&pairs, "confirm").is_empty() {
        let ids = picked(&pairs, "place")?;
        ctx.store
            .confirm_places(id, ids, act(&ctx, "places.confirm", "case", &id.to_string()).await?)
            .await?
            .map_err(refused)?;
        return Ok(Redirect::to(&format!("/tracing/cases/{id}#trajectory")).into_response());
    }
    let label = field(&pairs, "label").to_string();
    let note = field(&pairs, "note").to_string();
    bounded("label", &label, 200)?;
    bounded("note", &note, 200)?;
    let venue_id = match field(&pairs, "venue_id").trim() {
        "" => None,
        v => Some(
            v.parse::<i64>()
                .map_err(|_| FieldError::new("venue_invalid", "venue_id", "场所编号无效", "invalid venue id"))?,
        ),
    };
    let place = NewPlace {
        case_id: id,
        venue_id,
        label,
        from: parse_local(&ctx, "from", field(&pairs, "from"))?,
        until: parse_local(&ctx, "until", field(&pairs, "until"))?,
        setting: Setting::parse(field(&pairs, "setting").trim()),
        exposure_site: pairs.iter().any(|(k, _)| k == "exposure_site"),
        note,
    };
    ctx.store.add_place(place, act(&ctx, "place.add", "case", &id.to_string()).await?).await?.map_err(refused)?;
    Ok(Redirect::to(&format!("/tracing/cases/{id}#trajectory")).into_response())
}

#[derive(Deserialize)]
struct ContactForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    resident_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
    class: String,
    setting: String,
    last_exposure: String,
}

async fn add_contact(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<ContactForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    bounded("address", &f.address, 200)?;
    load_case(&ctx, id).await?;
    let resident_id =
        match f.resident_id.trim() {
            "" => None,
            v => Some(v.parse::<i64>().map_err(|_| {
                FieldError::new("resident_invalid", "resident_id", "居民编号无效", "invalid resident id")
            })?),
        };
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let contact = NewContact {
        case_id: id,
        resident_id,
        name: opt(&f.name).map(|n| PersonName::parse(&n)).transpose()?,
        id_number: opt(&f.id_number).map(|n| IdNumber::parse(&n)).transpose()?,
        phone: opt(&f.phone).map(|n| Phone::parse(&n)).transpose()?,
        address: f.address,
        class: choice("class", &f.class, Class::parse)?,
        setting: choice("setting", &f.setting, Setting::parse)?,
        last_exposure: parse_local(&ctx, "last_exposure", &f.last_exposure)?,
    };
    ctx.store.add_contact(contact, act(&ctx, "contact.add", "case", &id.to_string()).await?).await?.map_err(refused)?;
    Ok(Redirect::to(&format!("/tracing/cases/{id}#contacts")).into_response())
}

#[derive(Deserialize)]
struct SourceForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    source: String,
}

async fn link_source(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<SourceForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    load_case(&ctx, id).await?;
    let source =
        match f.source.trim() {
            "" => None,
            v => Some(v.parse::<i64>().map_err(|_| {
                FieldError::new("source_invalid", "source", "来源病例编号无效", "invalid source case id")
            })?),
        };
    ctx.store
        .link_source(id, source, act(&ctx, "case.source", "case", &id.to_string()).await?)
        .await?
        .map_err(refused)?;
    Ok(Redirect::to(&format!("/tracing/cases/{id}")).into_response())
}

/// The assist letter (协查函) for the contacts not on the district's register: a printable
/// page for the other district, with what it needs to find them (full ID number and
/// phone: an audited read of personal data).
async fn assist_letter(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let d = load_case(&ctx, id).await?;
    let lang = ctx.meta.lang;
    let outside: Vec<Value> = d
        .contacts
        .iter()
        .filter(|k| k.resident_id.is_none())
        .map(|k| {
            json!({"name": k.name.as_str(), "id_number": k.id_number.as_ref().map(|n| n.as_str().to_string()),
                   "phone": k.phone.as_ref().map(|p| p.as_str().to_string()), "address": k.address,
                   "class": word(lang, "class", k.class.as_str()), "setting": word(lang, "setting", k.setting.as_str()),
                   "last_exposure": local(&ctx, k.last_exposure)})
        })
        .collect();
    ctx.audit(
        "assist_letter.read",
        "case",
        &id.to_string(),
        format!("{} contacts outside the register", outside.len()),
    )
    .await?;
    let html = render(
        &ctx,
        "tracing/assist.html",
        "/tracing",
        json!({"case": case_json(&ctx, &d.case), "contacts": outside, "today": ctx.tz.today(ctx.now).to_string()}),
    )?;
    Ok(no_store(html))
}

// ---- API ------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/cases",
    responses((status = 200, description = "the tracer's work list: open cases with their open tasks, earliest due first"),
              (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn api_cases(ctx: Ctx) -> Result<Response, AppError> {
    let v = view(&ctx).await?;
    let lines = ctx.store.work_list(&ctx.principal.roots, 500, &v).await?;
    ctx.audit("cases.read", "area", &roots_label(&ctx.principal.roots), format!("{} cases", lines.len())).await?;
    let out: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({"id": l.case.id, "resident_id": l.case.resident_id, "name": l.case.name.masked(),
                   "unit": l.case.unit.as_str(), "classification": l.case.classification, "status": l.case.status, "at": l.case.at,
                   "due": l.due, "overdue": l.overdue, "candidates_waiting": l.candidates_waiting,
                   "contacts": l.contacts, "tasks": l.tasks})
        })
        .collect();
    Ok(no_store(Json(json!({"cases": out}))))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}", params(("id" = i64, Path)),
    responses((status = 200, description = "a case with its trajectory, candidates, contacts and tasks"),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn api_case(ctx: Ctx, Path(id): Path<i64>) -> Result<Response, AppError> {
    let d = load_case(&ctx, id).await?;
    ctx.audit("case.read", "case", &id.to_string(), "api").await?;
    let candidates: Vec<Value> = d
        .candidates
        .iter()
        .map(|c| {
            json!({"id": c.id, "resident_id": c.resident_id, "name": c.name.masked(), "class": c.class,
                   "source": c.source, "last_exposure": c.last_exposure, "evidence": c.evidence, "state": c.state})
        })
        .collect();
    let contacts: Vec<Value> = d
        .contacts
        .iter()
        .map(|k| {
            json!({"id": k.id, "resident_id": k.resident_id, "name": k.name.masked(), "class": k.class,
                   "setting": k.setting, "last_exposure": k.last_exposure, "status": k.status})
        })
        .collect();
    let c = &d.case;
    Ok(no_store(Json(json!({
        "case": {"id": c.id, "resident_id": c.resident_id, "name": c.name.masked(), "unit": c.unit.as_str(),
                 "classification": c.classification, "how_found": c.how_found, "status": c.status, "at": c.at,
                 "onset": c.onset, "first_positive": c.first_positive, "source_case": c.source_case,
                 "cluster_id": c.cluster_id, "known_before": c.known_before},
        "window_from": d.window_from, "places": d.places, "candidates": candidates, "contacts": contacts,
        "tasks": d.tasks, "history": d.history,
    }))))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct DecideIn {
    /// Candidate ids of the case.
    candidates: Vec<i64>,
    /// `true` to confirm them as contacts, `false` to reject them.
    confirm: bool,
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/candidates", params(("id" = i64, Path)), request_body = DecideIn,
    responses((status = 200, description = "candidates decided, all or nothing"),
              (status = 422, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn api_decide(
    ctx: Ctx,
    Path(id): Path<i64>,
    Json(body): Json<DecideIn>,
) -> Result<Response, AppError> {
    if body.candidates.len() > 5_000 {
        return Err(
            FieldError::new("candidates_many", "candidates", "一次最多处理5000人", "5,000 at most at once").into()
        );
    }
    load_case(&ctx, id).await?;
    let what = if body.confirm { "candidates.confirm" } else { "candidates.reject" };
    let n = ctx
        .store
        .decide_candidates(id, body.candidates, body.confirm, act(&ctx, what, "case", &id.to_string()).await?)
        .await?
        .map_err(refused)?;
    Ok(Json(json!({"decided": n})).into_response())
}
