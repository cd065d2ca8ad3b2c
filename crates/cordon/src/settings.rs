//! Process set-up: logging and shutdown signals. Settings come from, in rising order,
//! built-in defaults, `CORDON_*` environment variables and command-line flags (clap).

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;
use tracing_subscriber::EnvFilter;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_FILE: &str = "cordon.toml";

/// The settings file. Every key is optional; unknown keys are an error (a typo should not
/// silently fall back to a default).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// `sqlite://PATH`, a path, or `postgres://user:password@host/db`.
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub secure_cookies: Option<bool>,
    /// Template of valid tube barcodes: `A` a letter, `9` a digit, anything else literal.
    pub tube_pattern: Option<String>,
}

/// Never prints a database password.
impl std::fmt::Debug for FileSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSettings")
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("listen", &self.listen)
            .field("secure_cookies", &self.secure_cookies)
            .field("tube_pattern", &self.tube_pattern)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl FileSettings {
    /// Reads `path` (which must exist), or `./cordon.toml` when it exists, or nothing.
    pub fn load(path: Option<&Path>) -> Result<FileSettings> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_FILE).exists() => Path::new(DEFAULT_FILE).to_path_buf(),
            None => return Ok(FileSettings::default()),
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading settings {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("settings file {}", path.display()))
    }
}

pub fn init_tracing() {
    let filter = EnvFilter::try_from_env("CORDON_LOG").unwrap_or_else(|_| EnvFilter::new("info,tower=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Resolves on SIGINT or SIGTERM, so in-flight requests finish before exit.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_and_rejects_typos() {
        assert_eq!(redact_url("postgres://app:s3cret@db/cordon"), "postgres://app:***@db/cordon");
        assert_eq!(redact_url("postgres://app@db/cordon"), "postgres://app@db/cordon");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        let s: FileSettings = toml::from_str("database_url = \"postgres://a:b@h/d\"\nlisten = \"0.0.0.0:80\"").unwrap();
        assert_eq!(s.listen.as_deref(), Some("0.0.0.0:80"));
        assert!(!format!("{s:?}").contains(":b@"));
        assert!(toml::from_str::<FileSettings>("databse_url = \"x\"").is_err());
    }
}
