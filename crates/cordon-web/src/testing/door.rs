//! The door-knock team's job: tasks for missed households, their outcomes (samples at
//! the door, not home, away with proof, refused, wrong data — a roster correction), and
//! exemptions. Laid out for a phone; a refused outcome form comes back as it was sent.

use super::{load_round, missed_json, pattern, place_names};
use crate::AppState;
use crate::auth::Ctx;
use crate::common::{correction_entry, correction_from};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::routes::Route;
use crate::shell::render;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cordon_domain::Role;
use cordon_domain::authz::Action;
use cordon_domain::error::FieldError;
use cordon_domain::testing::{BarcodePattern, DoorOutcome, ExemptionReason, Refusal};
use cordon_store::testing::{DoorRefusal, DoorReport, DoorSample};
use serde::Deserialize;
use serde_json::json;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/testing/rounds/{id}/tasks", Action::DoorKnock, tasks_page),
        // Handing out work is for those who see the missed list, not for the volunteers
        // who are handed it (issue 10 #2).
        Route::post("/testing/rounds/{id}/tasks", Action::ViewMissed, create_tasks),
        Route::post("/testing/rounds/{id}/tasks/assign", Action::ViewMissed, assign_tasks),
        Route::post("/testing/rounds/{id}/exemptions", Action::DoorKnock, record_exemption),
        // A wrong-data outcome is a roster correction, checked as one.
        Route::post("/testing/tasks/{id}/outcome", Action::DoorKnock, task_outcome).also(&[Action::EditResident]),
    ]
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    /// The task whose outcome was just saved (the redirect after saving names it).
    done: Option<i64>,
    /// Tasks assigned by the last assignment (the redirect names how many).
    assigned: Option<usize>,
    /// Page of the task list and of the missed households (from 1).
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    mpage: Option<usize>,
}

/// Tasks and missed households a page shows (a district's lists are paged).
const TASKS_PER_PAGE: usize = 60;
const HOUSEHOLDS_PER_PAGE: usize = 200;

/// Whether the caller sees every task and the missed list of their area, or only the tasks
/// assigned to them (a volunteer: the API refuses them the missed list, `view_missed`).
fn sees_all(ctx: &Ctx) -> bool {
    Action::ViewMissed.allowed(ctx.principal.role)
}

/// One page of `items` (pages from 1) and the page links: (page, number of pages).
fn page_of<T>(items: Vec<T>, page: Option<usize>, per: usize) -> (Vec<T>, usize, usize) {
    let pages = items.len().div_ceil(per).max(1);
    let page = page.unwrap_or(1).clamp(1, pages);
    let shown = items.into_iter().skip((page - 1) * per).take(per).collect();
    (shown, page, pages)
}

/// Groups consecutive items by building, keeping their order: [{building, items}].
fn by_building(items: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = Vec::new();
    for it in items {
        let b = it["building"].clone();
        match out.last_mut() {
            Some(g) if g["building"] == b => {
                if let Some(list) = g["items"].as_array_mut() {
                    list.push(it);
                }
            }
            _ => out.push(json!({"building": b, "items": [it]})),
        }
    }
    out
}

/// An outcome form the server refused: what it held and why. The page shows it again as it
/// was sent, the refusal next to the field it is about, so that a worker at a door never
/// types a household's barcodes twice.
struct RefusedForm {
    task: i64,
    form: Vec<(String, String)>,
    refusal: DoorRefusal,
}

impl RefusedForm {
    fn sent(&self, name: &str) -> &str {
        self.form.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }
}

async fn tasks_page(
    ctx: Ctx,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    tasks_view(&ctx, &state, id, q, None).await
}

/// The door-knock page of a round, laid out for a phone: the tasks first, open ones on top,
/// each outcome form the full width; then the missed households to pick; then exemptions.
/// With `refused` that task's form is filled with what was sent and the page is a 422.
async fn tasks_view(
    ctx: &Ctx,
    state: &AppState,
    id: i64,
    q: DoneQuery,
    refused: Option<RefusedForm>,
) -> Result<Response, AppError> {
    let round = load_round(ctx, id).await?;
    let roots = ctx.principal.roots.clone();
    let all = sees_all(ctx);
    // A volunteer: the tasks assigned to them in their area, and of the missed list only
    // those tasks' households.
    let mut tasks = if all {
        ctx.store.door_tasks(id, &roots).await?
    } else {
        let mut mine = ctx.store.door_tasks_assigned(id, ctx.user.id).await?;
        mine.retain(|t| ctx.principal.covers(&t.unit));
        mine
    };
    let missed = if all {
        ctx.store.missed(id, &roots).await?
    } else if tasks.is_empty() {
        Vec::new()
    } else {
        let mut units: Vec<_> = tasks.iter().map(|t| t.unit.clone()).collect();
        units.sort();
        units.dedup();
        let hh: std::collections::HashSet<i64> = tasks.iter().map(|t| t.household_id).collect();
        ctx.store.missed(id, &units).await?.into_iter().filter(|h| hh.contains(&h.household_id)).collect()
    };
    let what = if all { roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",") } else { "assigned".into() };
    ctx.audit("missed.read", "area", &what, format!("round {id}: {} tasks", tasks.len())).await?;
    let lang = ctx.meta.lang;
    let places = place_names(ctx, tasks.iter().map(|t| &t.unit).chain(missed.iter().map(|h| &h.unit))).await?;
    let place = |u: &cordon_domain::area::AreaCode| places.get(u.as_str()).cloned().unwrap_or_default();
    // Open tasks first: they are the work; then by building, unit and room.
    tasks.sort_by(|a, b| {
        (a.outcome.is_some(), &a.unit, &a.room, a.id).cmp(&(b.outcome.is_some(), &b.unit, &b.room, b.id))
    });
    // The members still missing of each household: who can be swabbed or corrected at the door.
    let missing: std::collections::HashMap<i64, &[cordon_store::testing::MissedPerson]> =
        missed.iter().map(|h| (h.household_id, h.members.as_slice())).collect();
    let p = pattern(&state.settings.tube_pattern);
    let refused = refused.as_ref();
    let open_count = tasks.iter().filter(|t| t.outcome.is_none()).count();
    let total = tasks.len();
    let saved = q.done.and_then(|d| tasks.iter().find(|t| t.id == d)).map(|t| {
        let pl = place(&t.unit);
        json!({"id": t.id, "room": t.room, "unit": pl.unit, "building": pl.building,
               "outcome": t.outcome.map(|o| lang.pick(o.zh(), o.en()).to_string())})
    });
    // A refusal about a task this page does not list has nowhere else to show.
    let page_error =
        refused.filter(|r| !tasks.iter().any(|t| t.id == r.task)).map(|r| refusal_json(lang, r, &[], false, false));
    // The refused task's page is shown, whatever page was asked for.
    let task_page =
        refused.and_then(|r| tasks.iter().position(|t| t.id == r.task)).map(|i| i / TASKS_PER_PAGE + 1).or(q.page);
    let assignees = if all { assignees(ctx).await? } else { Vec::new() };
    let mut names: std::collections::HashMap<i64, String> = assignees.iter().map(|a| (a.0, a.1.clone())).collect();
    names.entry(ctx.user.id).or_insert_with(|| lang.pick("您", "you").to_string());
    let (shown, page, pages) = page_of(tasks, task_page, TASKS_PER_PAGE);
    let tasks_json: Vec<_> = shown
        .iter()
        .map(|t| {
            let members = missing.get(&t.household_id).copied().unwrap_or_default();
            let mut v = task_json(ctx, t, members, refused.filter(|r| r.task == t.id));
            let pl = place(&t.unit);
            v["building"] = json!(pl.building);
            v["unit_name"] = json!(pl.unit);
            v["assigned"] = json!(t.assigned_to.map(|u| names.get(&u).cloned().unwrap_or_else(|| format!("#{u}"))));
            v
        })
        .collect();
    let households_json = missed_json(&missed);
    let households: Vec<serde_json::Value> = households_json
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .zip(missed.iter())
        .map(|(mut v, h)| {
            let pl = place(&h.unit);
            v["building"] = json!(pl.building);
            v["unit_name"] = json!(pl.unit);
            v
        })
        .collect();
    let household_count = households.len();
    let (households, mpage, mpages) = page_of(households, q.mpage, HOUSEHOLDS_PER_PAGE);
    let corrections: Vec<_> = ["moved_out", "returned", "phone", "flags", "temporary_on", "temporary_off"]
        .iter()
        .map(|k| json!({"code": k, "label": crate::i18n::text(lang, &format!("correct.{k}"))}))
        .collect();
    let reasons: Vec<_> =
        ExemptionReason::ALL.iter().map(|o| json!({"code": o.as_str(), "label": lang.pick(o.zh(), o.en())})).collect();
    let assignees_json: Vec<_> =
        assignees.iter().map(|(id, name, role)| json!({"id": id, "label": format!("{name}（{role}）")})).collect();
    let html = render(
        ctx,
        "testing/tasks.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string()},
               "households": households, "household_count": household_count,
               "missed_groups": by_building(households.clone()),
               "mpage": mpage, "mpages": mpages, "page": page, "pages": pages,
               "tasks": tasks_json.clone(), "task_groups": by_building(tasks_json), "total": total,
               "open_count": open_count, "sees_all": all, "assignees": assignees_json, "assigned": q.assigned,
               "reasons": reasons, "corrections": corrections, "saved": saved, "page_error": page_error,
               "pattern": p.as_str(), "pattern_attr": pattern_attr(&p), "tube_inputmode": tube_inputmode(&p)}),
    )?;
    let status = if refused.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, [(axum::http::header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// The grid workers and volunteers whose area meets the caller's: who tasks can go to,
/// as (user id, display name, role in the page's language).
async fn assignees(ctx: &Ctx) -> Result<Vec<(i64, String, String)>, AppError> {
    let lang = ctx.meta.lang;
    let mut out = Vec::new();
    for u in ctx.store.users().await? {
        if !matches!(u.role, Role::GridWorker | Role::Volunteer) {
            continue;
        }
        let who = cordon_store::principal_for(ctx.store.as_ref(), &u).await?;
        let meets =
            who.roots.iter().any(|r| ctx.principal.covers(r) || ctx.principal.roots.iter().any(|m| r.contains(m)));
        if meets {
            let name = if u.display_name.is_empty() { u.username.clone() } else { u.display_name.clone() };
            out.push((u.id, name, lang.pick(u.role.zh(), u.role.en()).to_string()));
        }
    }
    Ok(out)
}

/// One task of the door-knock page; `refused` is this task's refused form, if any.
fn task_json(
    ctx: &Ctx,
    t: &cordon_store::testing::DoorTask,
    members: &[cordon_store::testing::MissedPerson],
    refused: Option<&RefusedForm>,
) -> serde_json::Value {
    let lang = ctx.meta.lang;
    // A wrong-data outcome is a roster correction, `EditResident`'s whoever knocks: its part
    // of the form is offered only to those the one authorization function allows it in the
    // task's unit (the handler checks again). Not a refusal, so not audited as one.
    let can_correct = cordon_domain::authorize(&ctx.principal, Action::EditResident, Some(&t.unit)).is_ok();
    let sent = |name: &str| refused.map_or("", |r| r.sent(name));
    let outcomes: Vec<_> = DoorOutcome::ALL
        .iter()
        .filter(|o| can_correct || **o != DoorOutcome::WrongData)
        .map(|o| json!({"code": o.as_str(), "label": lang.pick(o.zh(), o.en()), "selected": o.as_str() == sent("outcome")}))
        .collect();
    let members_json: Vec<_> = members
        .iter()
        .map(|m| {
            // A volunteer at the door needs who lives there, not their full names.
            let name = if sees_all(ctx) {
                m.name.clone()
            } else {
                cordon_domain::PersonName::parse(&m.name).map(|n| n.masked()).unwrap_or_else(|_| "*".into())
            };
            json!({"id": m.resident_id, "name": name, "phone": m.phone, "tube": sent(&format!("tube_{}", m.resident_id)),
                   "chosen": sent("member").trim() == m.resident_id.to_string()})
        })
        .collect();
    let checked = |name: &str| refused.is_some_and(|r| r.form.iter().any(|(k, _)| k == name));
    json!({"id": t.id, "unit": t.unit.as_str(), "room": t.room, "household_id": t.household_id,
           "outcome": t.outcome.map(|o| lang.pick(o.zh(), o.en()).to_string()), "note": t.note,
           "members": members_json, "outcomes": outcomes, "can_correct": can_correct,
           "form": {"note": sent("note"), "kind": sent("kind"), "phone": sent("phone"),
                    "bedridden": checked("bedridden"), "no_smartphone": checked("no_smartphone")},
           "error": refused.map(|r| refusal_json(lang, r, members, can_correct, t.outcome.is_none()))})
}

/// A refused outcome form's error for the page: the message with the field named, in the
/// page's language and the other, and `slot`, the field it is shown next to. A refusal about
/// one member (the store names them by resident id) names them by their masked name instead,
/// beside their own field.
fn refusal_json(
    lang: Lang,
    r: &RefusedForm,
    members: &[cordon_store::testing::MissedPerson],
    can_correct: bool,
    form_shown: bool,
) -> serde_json::Value {
    let outcome = r.sent("outcome");
    let sampled = outcome == DoorOutcome::SampledAtDoor.as_str() && !members.is_empty();
    let wrong_data = outcome == DoorOutcome::WrongData.as_str() && can_correct && !members.is_empty();
    // A member of the household is named by their masked name beside their field; anyone
    // else by resident id in the message.
    let named = r.refusal.member.and_then(|rid| members.iter().find(|m| m.resident_id == rid));
    let (error, who) = match named {
        Some(m) => {
            let who = cordon_domain::PersonName::parse(&m.name)
                .map(|n| n.masked())
                .unwrap_or_else(|_| format!("#{}", m.resident_id));
            (r.refusal.error.clone(), Some(who))
        }
        None => (r.refusal.named(), None),
    };
    let slot = match (named, error.field) {
        _ if !form_shown => "task".to_string(),
        (Some(m), _) if sampled => format!("tube_{}", m.resident_id),
        (Some(_), "member") if wrong_data => "member".into(),
        (None, "tube") if sampled => "tubes".into(),
        (None, f @ ("member" | "kind" | "phone")) if wrong_data => f.into(),
        (_, f @ ("outcome" | "note")) => f.into(),
        _ => "task".into(),
    };
    let (zh, en) = AppError::Field(error.clone()).messages();
    let (zh, en) = match &who {
        Some(w) => (format!("{zh}（{w}）"), format!("{en} ({w})")),
        None => (zh, en),
    };
    json!({"slot": slot, "code": error.code, "message": lang.pick(&zh, &en), "other": lang.pick(&en, &zh), "who": who})
}

/// The barcode template as an HTML `pattern` attribute, a hint before submitting (the server
/// decides). Browsers anchor it and compile it with the `v` flag, so only syntax characters
/// are escaped; letters match either case, as the server upper-cases what it is given.
fn pattern_attr(p: &BarcodePattern) -> String {
    p.as_str()
        .chars()
        .map(|c| match c {
            'A' => "[A-Za-z]".to_string(),
            '9' => "[0-9]".to_string(),
            c if c.is_ascii_alphabetic() => format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()),
            c if "^$\\.*+?()[]{}|/".contains(c) => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect()
}

/// The phone keyboard for typing a barcode by hand (a keyboard-wedge scanner types whatever
/// it reads): digits only when the template is all digits.
fn tube_inputmode(p: &BarcodePattern) -> &'static str {
    if p.as_str().chars().all(|c| c == '9') { "numeric" } else { "text" }
}

async fn create_tasks(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let csrf = f.iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v.clone()).unwrap_or_default();
    ctx.check_csrf(&csrf)?;
    load_round(&ctx, id).await?;
    // Only households on the principal's own missed list can get a task.
    let mine: std::collections::HashSet<i64> =
        ctx.store.missed(id, &ctx.principal.roots).await?.iter().map(|h| h.household_id).collect();
    let wanted: Vec<i64> = f.iter().filter(|(k, _)| k == "household").filter_map(|(_, v)| v.parse().ok()).collect();
    if wanted.iter().any(|h| !mine.contains(h)) {
        return Err(ctx.refuse_scope("household").await);
    }
    let entry = ctx.entry("door.create", "round", &id.to_string(), format!("{} households", wanted.len()));
    ctx.store.create_door_tasks(id, &wanted, ctx.user.id, ctx.now, &entry).await?;
    Ok(Redirect::to(&format!("/testing/rounds/{id}/tasks")).into_response())
}

/// The door-knock outcome form: `outcome`, `note`; for samples at the door one
/// `tube_<resident id>` per member swabbed (members left blank were not); for wrong data
/// `member` and the correction as on the resident page (`kind`, `phone`, `bedridden`,
/// `no_smartphone`). Saved: back to the page naming the task (`?done=`). Refused (a
/// `FieldError`, nothing written): the page again with this form as it was sent, a 422.
async fn task_outcome(
    ctx: Ctx,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let csrf = f.iter().find(|(k, _)| k == "_csrf").map_or("", |(_, v)| v.as_str());
    ctx.check_csrf(csrf)?;
    let task = ctx.store.door_task(id).await?.ok_or(AppError::NotFound("door_task"))?;
    // Door-knocking is the door-knock team's (SPEC roles: grid workers, community staff,
    // volunteers); the tubes of a sampled-at-door outcome are recorded by that team under
    // this same action, not `SampleResidents`: that one is the site samplers' alone, no role
    // holds both, and requiring both would leave the outcome unrecordable.
    ctx.authorize(Some(&task.unit)).await?;
    let refusal = match record_outcome(&ctx, &state, &task, &f).await {
        Ok(Ok(())) => {
            return Ok(Redirect::to(&format!("/testing/rounds/{}/tasks?done={id}", task.round_id)).into_response());
        }
        Ok(Err(refusal)) => refusal,
        Err(AppError::Field(error)) => error.into(),
        Err(e) => return Err(e),
    };
    tasks_view(&ctx, &state, task.round_id, DoneQuery::default(), Some(RefusedForm { task: id, form: f, refusal }))
        .await
}

/// Checks an outcome form and records it with the store, in one call. A refusal about one
/// member comes back as such; other bad values as `AppError::Field`.
async fn record_outcome(
    ctx: &Ctx,
    state: &AppState,
    task: &cordon_store::testing::DoorTask,
    f: &[(String, String)],
) -> Result<Result<(), DoorRefusal>, AppError> {
    let id = task.id;
    let field = |name: &str| f.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    let outcome = DoorOutcome::parse(field("outcome"))?;
    outcome.check_note(field("note"))?;
    let note: String = field("note").trim().chars().take(500).collect();
    let report = match outcome {
        DoorOutcome::SampledAtDoor => {
            let p = pattern(&state.settings.tube_pattern);
            let mut samples = Vec::new();
            for (k, v) in f {
                let Some(rid) = k.strip_prefix("tube_").and_then(|r| r.parse::<i64>().ok()) else { continue };
                if v.trim().is_empty() {
                    continue;
                }
                let tube = match p.parse(v) {
                    Ok(t) => t,
                    Err(e) => return Ok(Err(DoorRefusal::about(rid, e))),
                };
                samples.push(DoorSample { resident_id: rid, tube });
            }
            let audit = ctx.entry(
                "scans.ingest",
                "round",
                &task.round_id.to_string(),
                format!("door task {id}: {} single tubes", samples.len()),
            );
            DoorReport::SampledAtDoor { samples, audit }
        }
        DoorOutcome::WrongData => {
            let rid: i64 = field("member").trim().parse().map_err(|_| Refusal::MemberMissing.error())?;
            let member = ctx.store.resident(rid).await?.ok_or(AppError::NotFound("resident"))?;
            // A correction of the roster is one, whoever makes it.
            ctx.authorize_also(Action::EditResident, Some(&member.unit)).await?;
            let checked = |name: &str| f.iter().any(|(k, _)| k == name);
            let correction =
                correction_from(field("kind"), field("phone"), checked("bedridden"), checked("no_smartphone"))?;
            let audit = correction_entry(ctx, rid, &correction);
            DoorReport::WrongData { resident_id: rid, correction, audit }
        }
        DoorOutcome::NotHome => DoorReport::NotHome,
        DoorOutcome::AwayWithProof => DoorReport::AwayWithProof,
        DoorOutcome::Refused => DoorReport::Refused,
    };
    let entry = ctx.entry("door.outcome", "door_task", &id.to_string(), outcome.as_str());
    Ok(ctx.store.record_door_outcome(id, &report, &note, ctx.user.id, ctx.now, &entry).await?.map(|_| ()))
}

/// Assigns the ticked tasks (`task`, repeated) to `assignee` (a user id; empty: unassign).
/// Each task must be in the caller's area and the assignee a grid worker or volunteer whose
/// area holds it ([`cordon_domain::testing::door_assignee`]); otherwise nothing is assigned.
async fn assign_tasks(
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let csrf = f.iter().find(|(k, _)| k == "_csrf").map_or("", |(_, v)| v.as_str());
    ctx.check_csrf(csrf)?;
    load_round(&ctx, id).await?;
    let mut wanted: Vec<i64> =
        f.iter().filter(|(k, _)| k == "task").filter_map(|(_, v)| v.trim().parse().ok()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() || wanted.len() > 1_000 {
        return Err(FieldError::new("tasks_none", "task", "请勾选要指派的任务", "tick the tasks to assign").into());
    }
    let mine: std::collections::HashMap<i64, cordon_store::testing::DoorTask> =
        ctx.store.door_tasks(id, &ctx.principal.roots).await?.into_iter().map(|t| (t.id, t)).collect();
    if wanted.iter().any(|t| !mine.contains_key(t)) {
        return Err(ctx.refuse_scope("door_task").await);
    }
    let assignee = f.iter().find(|(k, _)| k == "assignee").map_or("", |(_, v)| v.trim());
    let assignee = if assignee.is_empty() {
        None
    } else {
        let bad =
            || FieldError::new("assignee_unknown", "assignee", "请选择指派对象", "choose whom to assign the tasks to");
        let uid: i64 = assignee.parse().map_err(|_| bad())?;
        let user = ctx.store.user(uid).await?.ok_or_else(bad)?;
        let who = cordon_store::principal_for(ctx.store.as_ref(), &user).await?;
        for t in &wanted {
            cordon_domain::testing::door_assignee(&who, &mine[t].unit)?;
        }
        Some(uid)
    };
    let detail =
        format!("{} tasks to {}", wanted.len(), assignee.map_or("nobody".to_string(), |u| format!("user {u}")));
    let entry = ctx.entry("door.assign", "round", &id.to_string(), detail);
    ctx.store.assign_door_tasks(&wanted, assignee, ctx.user.id, ctx.now, &entry).await?;
    Ok(Redirect::to(&format!("/testing/rounds/{id}/tasks?assigned={}", wanted.len())).into_response())
}

#[derive(Deserialize)]
struct ExemptionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    resident: i64,
    reason: String,
    #[serde(default)]
    proof: String,
}

async fn record_exemption(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<ExemptionForm>) -> Result<Response, AppError> {
    ctx.check_csrf(&f.csrf)?;
    let r = ctx.store.resident(f.resident).await?.ok_or(AppError::NotFound("resident"))?;
    ctx.authorize(Some(&r.unit)).await?;
    load_round(&ctx, id).await?;
    let reason = ExemptionReason::parse(&f.reason)?;
    let proof = reason.check_proof(&f.proof)?;
    let entry = ctx.entry("exemption.record", "resident", &r.id.to_string(), reason.as_str());
    ctx.store.record_exemption(id, r.id, reason, &proof, ctx.user.id, ctx.now, &entry).await??;
    Ok(Redirect::to(&format!("/testing/rounds/{id}/tasks")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_attr_takes_either_case_and_escapes_syntax_only() {
        assert_eq!(pattern_attr(&BarcodePattern::default()), format!("[A-Za-z][A-Za-z]{}", "[0-9]".repeat(10)));
        let p = BarcodePattern::new("HS-99.A").unwrap();
        assert_eq!(pattern_attr(&p), r"[Hh][Ss]-[0-9][0-9]\.[A-Za-z]");
        assert_eq!(tube_inputmode(&BarcodePattern::new("9999").unwrap()), "numeric");
        assert_eq!(tube_inputmode(&p), "text");
    }
}
