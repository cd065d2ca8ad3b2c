//! A person's status where people look (the 楼长's roster, the resident page): the colour of
//! their code with its reasons, any control (home control, home or centralised quarantine,
//! a positive pool awaiting the re-sample, a risk zone), and their household's status.
//!
//! Reads through `CodesStore::person_state` and computes the colour with the domain's one
//! `colour` function under the active profile, as the code page does; never stores anything.

use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::Lang;
use cordon_domain::colour::{self, Colour, PersonState, QuarantineKind};
use cordon_domain::zone::ZoneLevel;
use serde_json::{Value, json};
use std::collections::HashMap;

/// One person's status: `colour`, `colour_label`, `reasons` [{code, colour, text}],
/// `controls` [text] (what they are under now).
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub colour: Colour,
    pub json: Value,
    /// The strongest control, for the household's status.
    control: Option<QuarantineKind>,
    pool_positive: bool,
}

fn controls(state: &PersonState, lang: Lang, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(q) = state.quarantine.as_ref().filter(|q| q.until.is_none_or(|u| u > now)) {
        out.push(
            match q.kind {
                QuarantineKind::HomeControl => lang.pick("居家管控", "home control"),
                QuarantineKind::Home => lang.pick("居家隔离", "home quarantine"),
                QuarantineKind::Centralised => lang.pick("集中隔离", "centralised quarantine"),
            }
            .to_string(),
        );
    }
    if state.pool_positive_pending {
        out.push(lang.pick("混管阳性，待单采复核", "positive pool, awaiting re-test").to_string());
    }
    if let Some(z) = state.zone.as_ref().filter(|z| z.level != ZoneLevel::Low) {
        out.push(format!("{}{}", z.area_name, lang.pick(z.level.zh(), z.level.en())));
    }
    out
}

/// The status of each of `ids` now (people the registry does not know are left out).
pub(crate) async fn statuses(ctx: &Ctx, ids: &[i64]) -> Result<HashMap<i64, Status>, AppError> {
    let profile = crate::policy::active_profile(ctx.store.as_ref()).await?;
    let today = ctx.tz.today(ctx.now);
    let lang = ctx.meta.lang;
    let mut out = HashMap::with_capacity(ids.len());
    for id in ids {
        let Some(state) = ctx.store.person_state(*id, ctx.now, today).await? else { continue };
        let (c, reasons) = colour::colour(&state, &profile, ctx.now);
        let json = json!({
            "colour": c.as_str(), "colour_label": super::colour_label(c, lang),
            "reasons": super::reasons_json(&reasons, lang), "controls": controls(&state, lang, ctx.now),
        });
        let control = state.quarantine.as_ref().filter(|q| q.until.is_none_or(|u| u > ctx.now)).map(|q| q.kind);
        out.insert(*id, Status { colour: c, json, control, pool_positive: state.pool_positive_pending });
    }
    Ok(out)
}

/// A household's status from its active members': the worst colour, how many have each
/// colour that is not green, and the strongest control, in words.
pub(crate) fn household(members: &[&Status], lang: Lang) -> Value {
    let worst = members.iter().map(|s| s.colour).max_by_key(|c| rank(*c)).unwrap_or(Colour::Green);
    let count = |c: Colour| members.iter().filter(|s| s.colour == c).count();
    let mut parts = Vec::new();
    for c in [Colour::Red, Colour::Yellow] {
        if count(c) > 0 {
            parts.push(format!("{}{}{}", lang.pick(c.zh(), c.en()), count(c), lang.pick("人", "")));
        }
    }
    let control = members.iter().filter_map(|s| s.control).max();
    if let Some(k) = control {
        parts.push(
            match k {
                QuarantineKind::HomeControl => lang.pick("本户居家管控中", "household under home control"),
                QuarantineKind::Home => lang.pick("有人居家隔离", "someone in home quarantine"),
                QuarantineKind::Centralised => lang.pick("有人集中隔离", "someone in centralised quarantine"),
            }
            .to_string(),
        );
    }
    if members.iter().any(|s| s.pool_positive) {
        parts.push(lang.pick("有人待单采复核", "someone awaits a re-test").to_string());
    }
    if parts.is_empty() {
        parts.push(lang.pick("本户均为绿码，无管控", "all green, no control").to_string());
    }
    json!({"colour": worst.as_str(), "text": parts.join(lang.pick("；", "; "))})
}

fn rank(c: Colour) -> u8 {
    match c {
        Colour::Green => 0,
        Colour::Yellow => 1,
        Colour::Red => 2,
    }
}
