//! Health codes over HTTP: the active policy profile (switched by the commander), risk
//! zones, a resident's code (colour, reasons, signed QR) and printable code cards, the
//! checkpoint guard page and the device scan API, venues with check-ins, and passes — one
//! module per job, pages and API together, each with its own message table.
//!
//! Owns the one scan decision ([`scan::scan`]) that the guard page and the device API
//! share, so they can never disagree. Must never cache anything another instance can
//! change: the profile (read through [`crate::policy`]) and every key, zone and pass are
//! read from the store per request. Never puts an ID number or a phone number into an
//! audit entry or a log.

mod checkpoints;
mod passes;
mod person;
mod profile;
mod scan;
mod venues;
mod zoneclock;
mod zones;

use crate::auth::Ctx;
use crate::error::AppError;
use crate::features::{Feature, NavEntry, NavHref};
use crate::i18n::{Lang, Message};
use crate::routes::{Need, Route};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Action;
use cordon_domain::colour::{Colour, Reason};
use cordon_domain::error::FieldError;
use cordon_domain::token::{self, Claims, PublicKeyInfo, SubjectKind, TokenError};
use cordon_store::Store;
use cordon_store::codes::SigningKeyRecord;
use serde_json::json;
use utoipa::OpenApi;

pub const FEATURE: Feature = Feature {
    name: "codes",
    routes,
    nav: &[
        NavEntry {
            order: 50,
            label: "nav.codes.checkpoints",
            href: NavHref::Fixed("/checkpoints"),
            show: Need::AnyOf(checkpoints::JOBS),
        },
        NavEntry {
            order: 51,
            label: "nav.codes.zones",
            href: NavHref::Fixed("/zones"),
            show: Need::Action(Action::ManageZones),
        },
        NavEntry {
            order: 52,
            label: "nav.codes.venues",
            href: NavHref::Fixed("/venues"),
            show: Need::Action(Action::VenueCheckin),
        },
        NavEntry {
            order: 53,
            label: "nav.codes.passes",
            href: NavHref::Fixed("/passes"),
            show: Need::Action(Action::IssuePass),
        },
        NavEntry {
            order: 54,
            label: "nav.codes.policy",
            href: NavHref::Fixed("/codes/policy"),
            show: Need::Action(Action::ManagePolicy),
        },
    ],
    messages: &[
        MESSAGES,
        profile::MESSAGES,
        zones::MESSAGES,
        zoneclock::MESSAGES,
        person::MESSAGES,
        checkpoints::MESSAGES,
        scan::MESSAGES,
        venues::MESSAGES,
        passes::MESSAGES,
    ],
    templates: &[
        ("codes/policy.html", include_str!("../../templates/codes/policy.html")),
        ("codes/zones.html", include_str!("../../templates/codes/zones.html")),
        ("codes/area_panel.html", include_str!("../../templates/codes/area_panel.html")),
        ("codes/code.html", include_str!("../../templates/codes/code.html")),
        ("codes/cards.html", include_str!("../../templates/codes/cards.html")),
        ("codes/checkpoints.html", include_str!("../../templates/codes/checkpoints.html")),
        ("codes/scan.html", include_str!("../../templates/codes/scan.html")),
        ("codes/venues.html", include_str!("../../templates/codes/venues.html")),
        ("codes/venue.html", include_str!("../../templates/codes/venue.html")),
        ("codes/passes.html", include_str!("../../templates/codes/passes.html")),
        ("codes/pass.html", include_str!("../../templates/codes/pass.html")),
    ],
    openapi: Some(CodesDoc::openapi),
    area_panel: Some(zones::area_panel),
};

fn routes() -> Vec<Route> {
    [
        profile::routes(),
        zones::routes(),
        zoneclock::routes(),
        person::routes(),
        checkpoints::routes(),
        scan::routes(),
        venues::routes(),
        passes::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[derive(OpenApi)]
#[openapi(
    paths(
        scan::scans,
        person::resident_code_api,
        zones::zone,
        zoneclock::proposals_api,
        zoneclock::decision_api,
        zoneclock::forecast_api,
        zoneclock::lift_api,
        zoneclock::history_api,
        profile::policy,
        passes::pass_issue_api,
        passes::pass_revoke_api,
        venues::checkin_api,
        venues::visits,
    ),
    components(schemas(
        scan::ScanBody,
        scan::OneScan,
        zones::ZoneBody,
        zoneclock::DecisionBody,
        zoneclock::LiftBody,
        profile::PolicyBody,
        passes::PassBody,
        passes::RevokeBody,
        venues::CheckinBody,
    ))
)]
struct CodesDoc;

/// (key, 中文, English)
pub(super) const MESSAGES: &[Message] =
    &[("colour.green", "绿码", "Green"), ("colour.yellow", "黄码", "Yellow"), ("colour.red", "红码", "Red")];

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
pub(super) async fn issue_token(
    store: &dyn Store,
    kind: SubjectKind,
    subject: i64,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let (key, secret) = store.current_signing_key().await?.ok_or_else(no_key)?;
    let profile = crate::policy::active_profile(store).await?;
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
pub(crate) async fn verify_token(
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
pub(super) async fn verify_against(
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
pub(super) fn qr_svg(data: &str, size: u32) -> String {
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

// ---- helpers -------------------------------------------------------------------------

pub(super) fn field(code: &'static str, field: &'static str, zh: &str, en: &str) -> AppError {
    AppError::Field(FieldError::new(code, field, zh, en))
}

/// A `datetime-local` value (read as China time, UTC+8) or RFC 3339; empty → `default`.
pub(super) fn parse_time(s: &str, name: &'static str, default: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
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

pub(super) fn local(t: DateTime<Utc>) -> String {
    match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(o) => t.with_timezone(&o).format("%Y-%m-%d %H:%M").to_string(),
        None => t.format("%Y-%m-%d %H:%M").to_string(),
    }
}

pub(super) fn reasons_json(reasons: &[Reason], lang: Lang) -> Vec<serde_json::Value> {
    reasons
        .iter()
        .map(|r| json!({"code": r.code, "colour": r.colour.as_str(), "text": lang.pick(&r.zh, &r.en)}))
        .collect()
}

pub(super) fn colour_label(c: Colour, lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => c.zh(),
        Lang::En => c.en(),
    }
}

pub(super) async fn area_name(ctx: &Ctx, code: &AreaCode) -> Result<String, AppError> {
    Ok(ctx.store.area(code).await?.map(|a| a.name).unwrap_or_else(|| code.to_string()))
}
