//! The features of the web surface, listed once. A feature module declares everything
//! the rest of the crate needs to know about it — its routes (with the action each
//! needs), its navigation entries, its message tables, its templates and its part of the
//! OpenAPI document — in one [`Feature`] value; the router, the page shell's navigation,
//! the translations, the template environment and the API document are all built from
//! [`FEATURES`]. Adding a capability is adding a module and one line here; feature
//! modules never name each other's routes or messages.

use crate::auth::Ctx;
use crate::error::AppError;
use crate::i18n::Message;
use crate::routes::{Need, Route};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Principal;
use std::future::Future;
use std::pin::Pin;

/// Every feature, in navigation order of their entries' `order` (the list order does not
/// matter otherwise).
pub const FEATURES: &[Feature] = &[
    crate::shell::FEATURE,
    crate::registry::FEATURE,
    crate::codes::FEATURE,
    crate::testing::FEATURE,
    crate::accounts::FEATURE,
    crate::quarantine::FEATURE,
    crate::followup::FEATURE,
];

/// What a feature module declares.
pub struct Feature {
    pub name: &'static str,
    /// Its routes, pages and API alike.
    pub routes: fn() -> Vec<Route>,
    /// Its entries in the page shell's navigation.
    pub nav: &'static [NavEntry],
    /// Its message tables: (key, 中文, English).
    pub messages: &'static [&'static [Message]],
    /// Its templates: (name, source), compiled in.
    pub templates: &'static [(&'static str, &'static str)],
    /// Its paths and schemas of the OpenAPI document, if it has an API.
    pub openapi: Option<fn() -> utoipa::openapi::OpenApi>,
    /// What it shows about an area on the area tree's pages, if anything.
    pub area_panel: Option<AreaPanel>,
}

/// Which of the area tree's pages a panel is shown on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaPage {
    /// An area of any level (`/areas/{code}`).
    Area,
    /// A building's roster (`/buildings/{code}`).
    Roster,
}

/// A feature's panel about an area on another feature's page (the risk-zone badges on an
/// area page): HTML rendered in the caller's language, or nothing. It may read, never write.
pub type AreaPanel = for<'a> fn(&'a Ctx, &'a AreaCode, AreaPage) -> PanelFuture<'a>;
pub type PanelFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, AppError>> + Send + 'a>>;

/// Every feature's panel about `code` for `page`, in feature order.
pub async fn area_panels(ctx: &Ctx, code: &AreaCode, page: AreaPage) -> Result<Vec<String>, AppError> {
    let mut out = Vec::new();
    for panel in FEATURES.iter().filter_map(|f| f.area_panel) {
        out.extend(panel(ctx, code, page).await?);
    }
    Ok(out)
}

/// One link of the navigation bar.
pub struct NavEntry {
    /// Position in the bar (lower first), so features can interleave.
    pub order: u16,
    /// Message key of the label.
    pub label: &'static str,
    pub href: NavHref,
    /// Who sees the link (the route itself is guarded by its own declaration).
    pub show: Need,
}

pub enum NavHref {
    Fixed(&'static str),
    /// Computed from who is asking; `None` hides the entry.
    Of(fn(&Principal) -> Option<String>),
}

impl NavEntry {
    /// Where the entry leads for `who`, if they see it.
    pub fn href_for(&self, who: &Principal) -> Option<String> {
        if !self.show.admits(who.role) {
            return None;
        }
        match &self.href {
            NavHref::Fixed(h) => Some((*h).to_string()),
            NavHref::Of(f) => f(who),
        }
    }
}

/// Every navigation entry of every feature, in bar order.
pub fn nav_entries() -> Vec<&'static NavEntry> {
    let mut all: Vec<&'static NavEntry> = FEATURES.iter().flat_map(|f| f.nav.iter()).collect();
    all.sort_by_key(|e| e.order);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_domain::Role;

    fn bar(role: Role, root: &str) -> Vec<String> {
        let who = Principal {
            user_id: 1,
            username: "u".into(),
            role,
            roots: vec![AreaCode::parse(root).unwrap()],
            scope_label: String::new(),
        };
        nav_entries().into_iter().filter_map(|e| e.href_for(&who)).collect()
    }

    #[test]
    fn the_navigation_is_what_the_features_declare_in_their_order() {
        assert_eq!(
            bar(Role::Commander, "141102"),
            [
                "/areas",
                "/search",
                "/import",
                "/checkpoints",
                "/zones",
                "/venues",
                "/passes",
                "/codes/policy",
                "/testing",
                "/quarantine",
                "/followup",
                "/kpis/containment",
                "/audit",
                "/accounts"
            ]
        );
        assert_eq!(
            bar(Role::BuildingLeader, "141102001001001001"),
            ["/buildings/141102001001001001", "/areas", "/search", "/testing"]
        );
        assert_eq!(bar(Role::CheckpointGuard, "141102001001001"), ["/areas", "/checkpoints"]);
        assert_eq!(bar(Role::SupplyOfficer, "141102"), ["/areas"]);
    }
}
