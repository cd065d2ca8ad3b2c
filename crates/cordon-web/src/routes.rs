//! The one route registry. Every route — pages under `/`, the API under `/api` — is
//! declared once, in the module that owns it, as a [`Route`]: method, full path, handler
//! and the [`Need`] it has (an [`Action`] of the role table, any signed-in user, or
//! public). The router is built from these declarations and nothing else
//! ([`crate::router`]), and the HTTP authorization table test walks the same list
//! ([`registry`]), so a route cannot be added without its requirement being tested.
//!
//! Why the registry cannot lie: a route's declared need is enforced here, not by the
//! handler. [`guard`] runs before any extractor of the handler: it authenticates the
//! caller (401), checks a browser session's CSRF header on API writes, and checks the
//! role against the declared action (403 `forbidden_role`, audited) — so a refusal never
//! depends on whether the body parsed. It then hands the handler a [`Ctx`] carrying the
//! declaration; [`Ctx::authorize`] checks the subtree under the *declared* action and
//! takes no action argument. The few routes that check a second action for some inputs
//! (a roster correction made from a door-knock outcome) declare it with [`Route::also`];
//! [`Ctx::authorize_also`] refuses an action that was not declared.

use crate::AppState;
use crate::auth::Ctx;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use cordon_domain::Role;
use cordon_domain::authz::Action;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, signed in or not: the login form, static files, the language switch, the
    /// OpenAPI document, `/api/ping`.
    Public,
    /// Any signed-in user, whatever the role (the landing redirect, log out, `/api/v1/me`).
    SignedIn,
    /// One action of the role table; the handler names the target of the subtree check.
    Action(Action),
    /// A landing page that serves several jobs: the roles of any of these actions. A
    /// request is authorized under the first of them the caller's role holds.
    AnyOf(&'static [Action]),
}

impl From<Action> for Need {
    fn from(a: Action) -> Need {
        Need::Action(a)
    }
}

impl Need {
    /// Whether `role` passes the role part of this requirement.
    pub fn admits(self, role: Role) -> bool {
        match self {
            Need::Public | Need::SignedIn => true,
            Need::Action(a) => a.allowed(role),
            Need::AnyOf(list) => list.iter().any(|a| a.allowed(role)),
        }
    }

    /// The action a request by `role` is authorized under: the declared one, or for
    /// [`Need::AnyOf`] the first the role holds (else the first, whose refusal names it).
    pub fn action_for(self, role: Role) -> Option<Action> {
        match self {
            Need::Public | Need::SignedIn => None,
            Need::Action(a) => Some(a),
            Need::AnyOf(list) => list.iter().copied().find(|a| a.allowed(role)).or_else(|| list.first().copied()),
        }
    }
}

/// The HTTP methods Cordon's routes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
        }
    }
}

/// The declaration of a route, without its handler: what the router and the tests read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    pub verb: Verb,
    /// The full path, with axum's `{param}` placeholders.
    pub path: &'static str,
    pub need: Need,
    /// Further actions the handler checks for some inputs ([`Ctx::authorize_also`]).
    pub also: &'static [Action],
    /// The largest request body the route takes, in bytes ([`Route::body_limit`]).
    pub body_limit: usize,
}

/// A declared route: its [`RouteInfo`] and its handler.
pub struct Route {
    pub info: RouteInfo,
    endpoint: MethodRouter<AppState>,
}

impl Route {
    pub fn get<H, T>(path: &'static str, need: impl Into<Need>, handler: H) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        Route::new(Verb::Get, path, need.into(), axum::routing::get(handler))
    }

    pub fn post<H, T>(path: &'static str, need: impl Into<Need>, handler: H) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        Route::new(Verb::Post, path, need.into(), axum::routing::post(handler))
    }

    fn new(verb: Verb, path: &'static str, need: Need, endpoint: MethodRouter<AppState>) -> Route {
        Route {
            info: RouteInfo { verb, path, need, also: &[], body_limit: crate::security::DEFAULT_BODY_LIMIT },
            endpoint,
        }
    }

    /// Declares a body limit above [`crate::security::DEFAULT_BODY_LIMIT`] (uploads, device
    /// batches); every other route takes a few KB at most.
    pub fn body_limit(mut self, bytes: usize) -> Route {
        self.info.body_limit = bytes;
        self
    }

    /// Declares further actions the handler may check for some inputs.
    pub fn also(mut self, actions: &'static [Action]) -> Route {
        self.info.also = actions;
        self
    }
}

/// Every route of the application, feature by feature ([`crate::features::FEATURES`]).
pub fn all() -> Vec<Route> {
    crate::features::FEATURES.iter().flat_map(|f| (f.routes)()).collect()
}

/// The declarations of every route (for the authorization table test and the docs).
pub fn registry() -> Vec<RouteInfo> {
    all().into_iter().map(|r| r.info).collect()
}

/// The router of every declared route, each behind [`guard`] unless public.
pub(crate) fn router(state: &AppState) -> axum::Router<AppState> {
    let mut router = axum::Router::new();
    for Route { info, endpoint } in all() {
        let endpoint = if info.need == Need::Public {
            endpoint
        } else {
            endpoint.route_layer(middleware::from_fn_with_state((state.clone(), info), guard))
        };
        let limit = info.body_limit;
        let endpoint = endpoint
            .layer(axum::extract::DefaultBodyLimit::max(limit))
            .layer(middleware::from_fn(move |req: Request, next: Next| mark_limit(limit, req, next)));
        router = router.route(info.path, endpoint);
    }
    router
}

/// The body limit of the route that answered 413, for the error's message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

async fn mark_limit(limit: usize, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if resp.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        resp.extensions_mut().insert(BodyLimit(limit));
    }
    resp
}

/// Authenticates the caller and checks the declared role requirement before the handler
/// or any of its extractors runs; hands the handler its [`Ctx`].
async fn guard(State((state, info)): State<(AppState, RouteInfo)>, mut req: Request, next: Next) -> Response {
    let meta = req.extensions().get::<crate::RequestMeta>().cloned().unwrap_or_default();
    let writes = req.method() != axum::http::Method::GET;
    // Only the headers are held across the awaits: a request's body is not `Sync`.
    let ctx = match Ctx::resolve(&state, req.headers(), writes, meta, info).await {
        Ok(ctx) => ctx,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = ctx.admit().await {
        return e.into_response();
    }
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_path_is_declared_once() {
        let mut seen = std::collections::HashSet::new();
        for r in registry() {
            assert!(seen.insert((r.verb, r.path)), "{} {} declared twice", r.verb.as_str(), r.path);
            assert!(r.path.starts_with('/'), "{}", r.path);
            assert!(r.also.iter().all(|a| Need::Action(*a) != r.need), "{}: `also` repeats the need", r.path);
        }
    }

    #[test]
    fn any_of_authorizes_under_the_first_action_the_role_holds() {
        let need = Need::AnyOf(&[Action::ManageRounds, Action::SampleResidents]);
        assert!(need.admits(Role::Sampler) && !need.admits(Role::SupplyOfficer));
        assert_eq!(need.action_for(Role::Sampler), Some(Action::SampleResidents));
        assert_eq!(need.action_for(Role::Commander), Some(Action::ManageRounds));
        assert_eq!(need.action_for(Role::SupplyOfficer), Some(Action::ManageRounds));
        assert_eq!(Need::SignedIn.action_for(Role::Commander), None);
    }
}
