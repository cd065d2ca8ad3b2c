//! The door-knock team's job: tasks for missed households, their outcomes (samples at
//! the door, not home, away with proof, refused, wrong data — a roster correction), and
//! exemptions. Laid out for a phone; a refused outcome form comes back as it was sent.

use super::{load_round, missed_json, pattern};
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
use cordon_domain::authz::Action;
use cordon_domain::testing::{BarcodePattern, DoorOutcome, ExemptionReason, Refusal};
use cordon_store::testing::{DoorRefusal, DoorReport, DoorSample};
use serde::Deserialize;
use serde_json::json;

pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::get("/testing/rounds/{id}/tasks", Action::DoorKnock, tasks_page),
        Route::post("/testing/rounds/{id}/tasks", Action::DoorKnock, create_tasks),
        Route::post("/testing/rounds/{id}/exemptions", Action::DoorKnock, record_exemption),
        // A wrong-data outcome is a roster correction, checked as one.
        Route::post("/testing/tasks/{id}/outcome", Action::DoorKnock, task_outcome).also(&[Action::EditResident]),
    ]
}

#[derive(Deserialize)]
struct DoneQuery {
    /// The task whose outcome was just saved (the redirect after saving names it).
    done: Option<i64>,
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
    tasks_view(&ctx, &state, id, q.done, None).await
}

/// The door-knock page of a round, laid out for a phone: the tasks first, open ones on top,
/// each outcome form the full width; then the missed households to pick; then exemptions.
/// With `refused` that task's form is filled with what was sent and the page is a 422.
async fn tasks_view(
    ctx: &Ctx,
    state: &AppState,
    id: i64,
    done: Option<i64>,
    refused: Option<RefusedForm>,
) -> Result<Response, AppError> {
    let round = load_round(ctx, id).await?;
    let roots = ctx.principal.roots.clone();
    let missed = ctx.store.missed(id, &roots).await?;
    let mut tasks = ctx.store.door_tasks(id, &roots).await?;
    ctx.audit(
        "missed.read",
        "area",
        &roots.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        format!("round {id}"),
    )
    .await?;
    let lang = ctx.meta.lang;
    // Open tasks first: they are the work; done ones below (the sort is stable).
    tasks.sort_by_key(|t| t.outcome.is_some());
    // The members still missing of each household: who can be swabbed or corrected at the door.
    let missing: std::collections::HashMap<i64, &[cordon_store::testing::MissedPerson]> =
        missed.iter().map(|h| (h.household_id, h.members.as_slice())).collect();
    let p = pattern(&state.settings.tube_pattern);
    let refused = refused.as_ref();
    let tasks_json: Vec<_> = tasks
        .iter()
        .map(|t| {
            let members = missing.get(&t.household_id).copied().unwrap_or_default();
            task_json(ctx, t, members, refused.filter(|r| r.task == t.id))
        })
        .collect();
    // A refusal about a task this page does not list has nowhere else to show.
    let page_error =
        refused.filter(|r| !tasks.iter().any(|t| t.id == r.task)).map(|r| refusal_json(lang, r, &[], false, false));
    let saved = done.and_then(|d| tasks.iter().find(|t| t.id == d)).map(|t| {
        json!({"id": t.id, "room": t.room, "unit": t.unit.as_str(),
               "outcome": t.outcome.map(|o| lang.pick(o.zh(), o.en()).to_string())})
    });
    let corrections: Vec<_> = ["moved_out", "returned", "phone", "flags", "temporary_on", "temporary_off"]
        .iter()
        .map(|k| json!({"code": k, "label": crate::i18n::text(lang, &format!("correct.{k}"))}))
        .collect();
    let reasons: Vec<_> =
        ExemptionReason::ALL.iter().map(|o| json!({"code": o.as_str(), "label": lang.pick(o.zh(), o.en())})).collect();
    let html = render(
        ctx,
        "testing/tasks.html",
        "/testing",
        json!({"round": {"id": round.id, "date": round.date.to_string()}, "households": missed_json(&missed),
               "tasks": tasks_json, "open_count": tasks.iter().filter(|t| t.outcome.is_none()).count(),
               "reasons": reasons, "corrections": corrections, "saved": saved, "page_error": page_error,
               "pattern": p.as_str(), "pattern_attr": pattern_attr(&p), "tube_inputmode": tube_inputmode(&p)}),
    )?;
    let status = if refused.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, html).into_response())
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
            json!({"id": m.resident_id, "name": m.name, "tube": sent(&format!("tube_{}", m.resident_id)),
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
    tasks_view(&ctx, &state, task.round_id, None, Some(RefusedForm { task: id, form: f, refusal })).await
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
