//! Page templates (minijinja, compiled into the binary; each feature declares its own in
//! its [`crate::features::Feature`]) and the `t(key)` translation function they call; the
//! language comes from the `lang` variable every page sets.

use crate::i18n::{self, Lang};
use minijinja::{Environment, State};

/// Every template of every feature, as (name, source).
pub fn sources() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    crate::features::FEATURES.iter().flat_map(|f| f.templates.iter())
}

pub const APP_CSS: &str = include_str!("../static/app.css");
/// Apache ECharts 6.1.0 (`dist/echarts.min.js` from npm, Apache-2.0, see
/// `static/vendor/ECHARTS-LICENSE`), served as `/static/echarts.min.js` for the charts and
/// graphs of the command pages.
pub const ECHARTS_JS: &str = include_str!("../static/vendor/echarts-6.1.0.min.js");

/// The scripts of pages, served as `/static/<name>` (the CSP allows no inline script: a
/// page's script is a file here, named after its template, `<feature>-<page>.js`).
pub const PAGE_SCRIPTS: &[(&str, &str)] = &[
    ("testing-alerts.js", include_str!("../static/js/testing-alerts.js")),
    ("testing-coverage.js", include_str!("../static/js/testing-coverage.js")),
    ("testing-missed.js", include_str!("../static/js/testing-missed.js")),
    ("testing-scan.js", include_str!("../static/js/testing-scan.js")),
    ("testing-tasks.js", include_str!("../static/js/testing-tasks.js")),
    ("codes-scan.js", include_str!("../static/js/codes-scan.js")),
    ("codes-cards.js", include_str!("../static/js/codes-cards.js")),
    ("registry-import.js", include_str!("../static/js/registry-import.js")),
    ("followup-kpi.js", include_str!("../static/js/followup-kpi.js")),
    ("quarantine-queue.js", include_str!("../static/js/quarantine-queue.js")),
    ("codes-passes.js", include_str!("../static/js/codes-passes.js")),
    ("tracing-chains.js", include_str!("../static/js/tracing-chains.js")),
];

/// The process-wide template environment (templates are compiled in and never change).
pub fn environment_cached() -> &'static Environment<'static> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(environment)
}

pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for f in crate::features::FEATURES {
        for (name, src) in f.templates {
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(feature = f.name, template = name, error = %e, "template does not compile");
            }
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
    fn every_page_script_a_template_names_is_served() {
        for (name, src) in super::sources() {
            for part in src.split("<script src=\"/static/").skip(1) {
                let file = part.split('"').next().unwrap_or("");
                let served = file == "echarts.min.js" || super::PAGE_SCRIPTS.iter().any(|(n, _)| *n == file);
                assert!(served, "{name} loads /static/{file}, which is not in PAGE_SCRIPTS");
            }
        }
    }

    #[test]
    fn all_templates_compile() {
        let mut env = minijinja::Environment::new();
        for (name, src) in super::sources() {
            env.add_template(name, src).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
