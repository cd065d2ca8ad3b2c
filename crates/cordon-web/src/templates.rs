//! Page templates (minijinja, compiled into the binary) and the `t(key)` translation
//! function they call; the language comes from the `lang` variable every page sets.

use crate::i18n::{self, Lang};
use minijinja::{Environment, State};

pub const SOURCES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("area.html", include_str!("../templates/area.html")),
    ("roots.html", include_str!("../templates/roots.html")),
    ("roster.html", include_str!("../templates/roster.html")),
    ("resident.html", include_str!("../templates/resident.html")),
    ("search.html", include_str!("../templates/search.html")),
    ("import.html", include_str!("../templates/import.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("testing/index.html", include_str!("../templates/testing/index.html")),
    ("testing/scan.html", include_str!("../templates/testing/scan.html")),
    ("testing/lab.html", include_str!("../templates/testing/lab.html")),
    ("testing/coverage.html", include_str!("../templates/testing/coverage.html")),
    ("testing/missed.html", include_str!("../templates/testing/missed.html")),
    ("testing/tasks.html", include_str!("../templates/testing/tasks.html")),
    ("testing/alerts.html", include_str!("../templates/testing/alerts.html")),
    ("codes/policy.html", include_str!("../templates/codes/policy.html")),
    ("codes/zones.html", include_str!("../templates/codes/zones.html")),
    ("codes/code.html", include_str!("../templates/codes/code.html")),
    ("codes/cards.html", include_str!("../templates/codes/cards.html")),
    ("codes/checkpoints.html", include_str!("../templates/codes/checkpoints.html")),
    ("codes/scan.html", include_str!("../templates/codes/scan.html")),
    ("codes/venues.html", include_str!("../templates/codes/venues.html")),
    ("codes/venue.html", include_str!("../templates/codes/venue.html")),
    ("codes/passes.html", include_str!("../templates/codes/passes.html")),
    ("codes/pass.html", include_str!("../templates/codes/pass.html")),
];

pub const APP_CSS: &str = include_str!("../static/app.css");

/// The process-wide template environment (templates are compiled in and never change).
pub fn environment_cached() -> &'static Environment<'static> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(environment)
}

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, src) in SOURCES {
        if let Err(e) = env.add_template(name, src) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env.add_function("t", translate);
    env
}

fn translate(state: &State, key: &str) -> String {
    let lang = state.lookup("lang").and_then(|v| v.as_str().map(Lang::from_tag)).unwrap_or_default();
    i18n::text(lang, key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_templates_compile() {
        let mut env = minijinja::Environment::new();
        for (name, src) in super::SOURCES {
            env.add_template(name, src).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
