//! Command-line parsing and the commands themselves.

use crate::{bench, credentials_cli, demo, settings};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use cordon_domain::area::AreaCode;
use cordon_domain::authz::Principal;
use cordon_domain::role::{Role, UserScope};
use cordon_domain::synth::{self, GenParams};
use cordon_store::credentials::CredentialChange;
use cordon_store::{NewUser, Store};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "cordon", version, about = "区级疫情防控指挥平台 — district outbreak-response command system")]
struct Cli {
    /// Database: `sqlite://PATH`, a file path (SQLite) or `postgres://…`.
    #[arg(long, global = true, env = "CORDON_DATABASE_URL")]
    db: Option<String>,
    /// Settings file (TOML); `./cordon.toml` is read when present. Flags and `CORDON_*`
    /// variables override it.
    #[arg(long, global = true, env = "CORDON_CONFIG")]
    config: Option<PathBuf>,
    /// Template of valid tube barcodes (`A` letter, `9` digit) [default: AA9999999999].
    #[arg(long, global = true, env = "CORDON_TUBE_PATTERN")]
    tube_pattern: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply database migrations (run once per deployment, before `serve`).
    Migrate,
    /// Generate a synthetic district into the database.
    Generate {
        #[arg(long, default_value_t = 430_000)]
        population: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Import records from a file.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Export records to a file.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Issue a bearer token for a device or API client.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Serve the web UI and API.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "CORDON_LISTEN")]
        listen: Option<String>,
        /// Mark cookies Secure (behind HTTPS).
        #[arg(long, env = "CORDON_SECURE_COOKIES")]
        secure_cookies: bool,
    },
    /// The demo: a generated district in ./cordon-demo.db, one login per role, served.
    Demo {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "CORDON_LISTEN")]
        listen: Option<String>,
        #[arg(long, default_value_t = 20_000)]
        population: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Create the demo database and accounts, print them, and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// District signing keys of the health codes.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Policy profiles.
    Policy {
        #[command(subcommand)]
        cmd: PolicyCmd,
    },
    /// Back the database up (SQLite: an online, checked snapshot; PostgreSQL: pg_dump
    /// guidance).
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup in place of the SQLite database (stop `cordon serve` first).
    Restore {
        #[arg(long)]
        from: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Benchmarks that print JSON figures.
    Bench {
        #[command(subcommand)]
        scenario: bench::Scenario,
    },
}

#[derive(Subcommand)]
enum ImportWhat {
    /// Residents from .xlsx or .csv (columns 姓名, 身份证号, 手机号, 小区, 楼栋, 单元, 房号 …).
    Residents {
        file: PathBuf,
        /// Import the valid rows even if some are bad (default: import nothing then).
        #[arg(long)]
        valid_rows_only: bool,
        /// Area the import is limited to (default: the district).
        #[arg(long, default_value = synth::DISTRICT_CODE)]
        scope: String,
    },
}

#[derive(Subcommand)]
enum ExportWhat {
    Residents {
        #[arg(long)]
        area: String,
        #[arg(long, default_value = "xlsx")]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user: `--scope` is an area code, or a grid id for a grid worker.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        scope: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Disable an account: no sign-in, its sessions end and its tokens are revoked.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled account again (its old tokens stay revoked).
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Set a new password; every session of the user ends.
    ResetPassword {
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Log the user out everywhere: every session ends, every token is revoked.
    LogoutAll {
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Add a new signing key; the old one stays valid until its tokens expire.
    Rotate,
    /// List keys (never their secrets).
    List,
    /// Revoke a key at once (compromised): its tokens are refused from now on.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Walk the audit chain and report the first broken link (exit status 1 if any).
    Verify {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Check a policy file; a problem is reported with its line and reason.
    Check { file: PathBuf },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Print a new bearer token for USERNAME (shown once; only its hash is stored).
    Add {
        #[arg(long)]
        username: String,
        /// What the token is for ("scanner 3, gate 2").
        #[arg(long, alias = "name", default_value = "device")]
        label: String,
        /// Days until the token expires.
        #[arg(long, default_value_t = cordon_store::credentials::DEFAULT_TOKEN_DAYS)]
        expires_days: i64,
    },
    /// List tokens (never their values): name, user, state, expiry, last use.
    List {
        #[arg(long)]
        username: Option<String>,
    },
    /// Revoke a token at once (a lost device): it is refused from the next request on.
    Revoke { id: i64 },
}

pub async fn main() -> Result<()> {
    settings::init_tracing();
    let cli = Cli::parse();
    let file = settings::FileSettings::load(cli.config.as_deref())?;
    // Precedence: flag > CORDON_* variable (both resolved by clap) > file > default.
    let db = cli.db.clone().or_else(|| file.database_url.clone());
    let tube_pattern = match cli.tube_pattern.clone().or_else(|| file.tube_pattern.clone()) {
        Some(t) => Some(
            cordon_domain::testing::BarcodePattern::new(&t)
                .map_err(|e| anyhow::anyhow!("--tube-pattern: {} / {}", e.zh, e.en))?,
        ),
        None => None,
    };
    let listen_or = |listen: Option<String>| {
        listen.or_else(|| file.listen.clone()).unwrap_or_else(|| settings::DEFAULT_LISTEN.to_string())
    };
    match cli.command {
        Command::Migrate => {
            let store = open_store(&db_url(&db)?).await?;
            store.migrate().await?;
            eprintln!("migrations applied ({})", store.backend());
        }
        Command::Generate { population, seed } => {
            let store = open_store(&db_url(&db)?).await?;
            store.migrate().await?;
            let s = generate(store.as_ref(), population, seed).await?;
            eprintln!(
                "generated {} residents, {} households, {} areas, {} grids",
                s.residents, s.households, s.areas, s.grids
            );
        }
        Command::Import { what: ImportWhat::Residents { file, valid_rows_only, scope } } => {
            let store = open_store(&db_url(&db)?).await?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = file.to_string_lossy();
            let format = cordon_sheets::Format::from_file_name(&name).context("the file must end in .xlsx or .csv")?;
            let mode = if valid_rows_only {
                cordon_sheets::ImportMode::ValidRowsOnly
            } else {
                cordon_sheets::ImportMode::AllOrNothing
            };
            let who = cli_principal(&scope)?;
            let report =
                cordon_sheets::import_residents(store.as_ref(), &who, &bytes, format, mode, "cli", chrono::Utc::now())
                    .await?;
            for e in &report.errors {
                eprintln!("第{}行 row {} [{}] {}: {} / {}", e.row, e.row, e.code, e.column, e.zh, e.en);
            }
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.committed {
                bail!("nothing imported: {} bad rows (use --valid-rows-only to import the rest)", report.errors.len());
            }
        }
        Command::Export { what: ExportWhat::Residents { area, format, out } } => {
            let store = open_store(&db_url(&db)?).await?;
            let area = AreaCode::parse(&area).map_err(|e| anyhow::anyhow!("{} / {}", e.zh, e.en))?;
            let format = match format.as_str() {
                "xlsx" => cordon_sheets::Format::Xlsx,
                "csv" => cordon_sheets::Format::Csv,
                other => bail!("unknown format {other}: use xlsx or csv"),
            };
            let who = cli_principal(&area.lineage().first().map(|c| c.to_string()).unwrap_or_default())?;
            let bytes =
                cordon_sheets::export_residents(store.as_ref(), &who, &area, format, "cli", chrono::Utc::now()).await?;
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
        }
        Command::User { cmd: UserCmd::Add { username, role, scope, display_name, password_stdin } } => {
            let store = open_store(&db_url(&db)?).await?;
            let password = read_password(password_stdin)?;
            // A new account's name is short and plain, its password not a common one (the
            // demo's published passwords are made by `cordon demo`, not here).
            check_new_account(&username, &password)?;
            let user = add_user(store.as_ref(), &username, &role, &scope, display_name.as_deref(), &password).await?;
            eprintln!("user {} ({}) created with id {}", user.username, user.role.code(), user.id);
        }
        Command::User { cmd: UserCmd::List } => {
            let store = open_store(&db_url(&db)?).await?;
            for u in store.users().await? {
                println!("{}\t{}\t{}\t{:?}", u.id, u.username, u.role.code(), u.scope);
            }
        }
        Command::Token { cmd: TokenCmd::Add { username, label, expires_days } } => {
            let store = open_store(&db_url(&db)?).await?;
            println!("{}", credentials_cli::add_token(store.as_ref(), &username, &label, expires_days).await?);
        }
        Command::Token { cmd: TokenCmd::List { username } } => {
            let store = open_store(&db_url(&db)?).await?;
            credentials_cli::list_tokens(store.as_ref(), username.as_deref()).await?;
        }
        Command::Token { cmd: TokenCmd::Revoke { id } } => {
            let store = open_store(&db_url(&db)?).await?;
            credentials_cli::revoke_token(store.as_ref(), id).await?;
            eprintln!("token {id} revoked");
        }
        Command::User { cmd: UserCmd::Disable { username } } => {
            let store = open_store(&db_url(&db)?).await?;
            let o = credentials_cli::change_user(store.as_ref(), &username, CredentialChange::Disable, "user.disable")
                .await?;
            eprintln!("{username} disabled: {} sessions ended, {} tokens revoked", o.sessions_ended, o.tokens_revoked);
        }
        Command::User { cmd: UserCmd::Enable { username } } => {
            let store = open_store(&db_url(&db)?).await?;
            credentials_cli::change_user(store.as_ref(), &username, CredentialChange::Enable, "user.enable").await?;
            eprintln!("{username} enabled");
        }
        Command::User { cmd: UserCmd::ResetPassword { username, password_stdin } } => {
            let store = open_store(&db_url(&db)?).await?;
            let password = read_password(password_stdin)?;
            cordon_domain::security::password_acceptable(&password, &username)
                .map_err(|e| anyhow::anyhow!("{} / {}", e.zh, e.en))?;
            let change = CredentialChange::ResetPassword { password_hash: credentials_cli::password_hash(&password)? };
            let o = credentials_cli::change_user(store.as_ref(), &username, change, "user.password_reset").await?;
            eprintln!("{username}: password set, {} sessions ended", o.sessions_ended);
        }
        Command::User { cmd: UserCmd::LogoutAll { username } } => {
            let store = open_store(&db_url(&db)?).await?;
            let o = credentials_cli::change_user(
                store.as_ref(),
                &username,
                CredentialChange::LogOutEverywhere,
                "user.logout_all",
            )
            .await?;
            eprintln!("{username}: {} sessions ended, {} tokens revoked", o.sessions_ended, o.tokens_revoked);
        }
        Command::Serve { listen, secure_cookies } => {
            let store = open_store(&db_url(&db)?).await?;
            let secure_cookies = secure_cookies || file.secure_cookies.unwrap_or(false);
            serve(
                store,
                &listen_or(listen),
                cordon_web::WebSettings { secure_cookies, tube_pattern: tube_pattern.clone(), ..Default::default() },
            )
            .await?;
        }
        Command::Demo { listen, population, seed, no_serve } => {
            let url = db.clone().unwrap_or_else(|| "./cordon-demo.db".to_string());
            let store = demo::prepare(&url, population, seed).await?;
            if !no_serve {
                serve(store, &listen_or(listen), cordon_web::WebSettings { tube_pattern, ..Default::default() })
                    .await?;
            }
        }
        Command::Keys { cmd } => {
            let store = open_store(&db_url(&db)?).await?;
            match cmd {
                KeysCmd::Rotate => {
                    let id = crate::codes_cli::rotate(store.as_ref()).await?;
                    eprintln!("new signing key {id}; older keys verify until their tokens expire");
                }
                KeysCmd::List => crate::codes_cli::list(store.as_ref()).await?,
                KeysCmd::Revoke { id } => {
                    crate::codes_cli::revoke(store.as_ref(), id).await?;
                    eprintln!("signing key {id} revoked");
                }
            }
        }
        Command::Policy { cmd: PolicyCmd::Check { file } } => crate::codes_cli::check_policy(&file)?,
        Command::Backup { out } => {
            if let Some(s) = crate::backup_cli::backup(&db_url(&db)?, &out).await? {
                eprintln!(
                    "备份完成 / backed up to {} ({} bytes, {} accounts, audit chain verified: {} entries, head {})",
                    out.display(),
                    s.bytes,
                    s.users,
                    s.audit_entries_verified,
                    s.audit_head
                );
            }
        }
        Command::Restore { from, force } => {
            let s = crate::backup_cli::restore(&db_url(&db)?, &from, force).await?;
            eprintln!(
                "已恢复 / restored from {} ({} accounts, audit chain verified: {} entries)",
                from.display(),
                s.users,
                s.audit_entries_verified
            );
        }
        Command::Audit { cmd: AuditCmd::Verify { json } } => {
            let store = open_store(&db_url(&db)?).await?;
            if crate::audit_cli::verify(store.as_ref(), json).await?.broken.is_some() {
                std::process::exit(1);
            }
        }
        Command::Bench { scenario } => bench::run(scenario, db.as_deref()).await?,
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<String> {
    Ok(if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else {
        rpassword::prompt_password("password: ")?
    })
}

fn db_url(db: &Option<String>) -> Result<String> {
    db.clone().context("no database: pass --db URL or set CORDON_DATABASE_URL (sqlite://cordon.db or postgres://…)")
}

/// The one place that maps a URL to a backend.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // CORDON_PG_SCHEMA puts every connection in one schema (tests run several servers
        // on one fresh schema; a deployment may keep Cordon out of `public`).
        let s = match std::env::var("CORDON_PG_SCHEMA").ok().filter(|s| !s.is_empty()) {
            Some(schema) => cordon_postgres::PgStore::connect_in_schema(url, &schema),
            None => cordon_postgres::PgStore::connect(url),
        }
        .context("connecting to PostgreSQL")?;
        Ok(Arc::new(s))
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let s = cordon_sqlite::SqliteStore::open(path).with_context(|| format!("opening SQLite database {path}"))?;
        Ok(Arc::new(s))
    }
}

/// The operator at the command line acts with district-wide rights within `scope`.
fn cli_principal(scope: &str) -> Result<Principal> {
    let root = AreaCode::parse(scope).map_err(|e| anyhow::anyhow!("--scope: {} / {}", e.zh, e.en))?;
    Ok(Principal {
        user_id: 0,
        username: "cli".into(),
        role: Role::Commander,
        roots: vec![root],
        scope_label: scope.into(),
    })
}

/// The rules of a new account's name and password ([`cordon_domain::security`]).
pub fn check_new_account(username: &str, password: &str) -> Result<()> {
    use cordon_domain::security::{USERNAME_MAX, bounded_text, password_acceptable};
    let name = bounded_text("username", username, USERNAME_MAX).map_err(|e| anyhow::anyhow!("{} / {}", e.zh, e.en))?;
    if name.is_empty() || name != username || name.chars().any(char::is_whitespace) {
        bail!("用户名不能为空或含空格 / a username is one word without spaces");
    }
    password_acceptable(password, username).map_err(|e| anyhow::anyhow!("{} / {}", e.zh, e.en))?;
    Ok(())
}

pub async fn add_user(
    store: &dyn Store,
    username: &str,
    role: &str,
    scope: &str,
    display_name: Option<&str>,
    password: &str,
) -> Result<cordon_store::User> {
    let role = Role::parse(role).map_err(|e| anyhow::anyhow!("{} / {}", e.zh, e.en))?;
    let scope = if role == Role::GridWorker {
        let id: i64 = scope.parse().context("a grid worker's --scope is a grid id")?;
        store.grid(id).await?.context("no such grid")?;
        UserScope::Grid(id)
    } else {
        let code = AreaCode::parse(scope).map_err(|e| anyhow::anyhow!("{} / {}", e.zh, e.en))?;
        store.area(&code).await?.with_context(|| format!("no area with code {code}"))?;
        UserScope::Area(code)
    };
    scope.check_for(role).map_err(|e| anyhow::anyhow!("{} / {}", e.zh, e.en))?;
    if password.chars().count() < 8 {
        bail!("密码至少8位 / the password needs at least 8 characters");
    }
    let hash = cordon_web::auth::hash_password(password).map_err(|e| anyhow::anyhow!("{:?}", e))?;
    let user = store
        .create_user(&NewUser {
            username: username.to_string(),
            display_name: display_name.unwrap_or(username).to_string(),
            role,
            scope,
            password_hash: hash,
            created_at: chrono::Utc::now(),
        })
        .await?;
    Ok(user)
}

/// Generates and loads a district with a progress bar; batches go to the store as they come.
pub async fn generate(store: &dyn Store, population: u64, seed: u64) -> Result<synth::Summary> {
    let bar = ProgressBar::new(population);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("生成居民 generating");
    // Generation is CPU work; loading is IO: a bounded channel lets them overlap.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<synth::Batch>(4);
    let params = GenParams::new(population, seed);
    let producer = tokio::task::spawn_blocking(move || synth::generate(&params, |b| tx.blocking_send(b)));
    while let Some(batch) = rx.recv().await {
        store.load_batch(&batch).await?;
        bar.inc(batch.residents.len() as u64);
    }
    let summary = producer.await?.map_err(|_| anyhow::anyhow!("generator stopped"))?;
    store.finish_load().await?;
    bar.finish_and_clear();
    Ok(summary)
}

pub async fn serve(store: Arc<dyn Store>, listen: &str, settings: cordon_web::WebSettings) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = store.backend(), "serving");
    eprintln!("Cordon 已启动 / serving on http://{addr}");
    let clock = tokio::spawn(zone_clock(Arc::clone(&store), settings.tz.clone()));
    let state = cordon_web::AppState::new(store, settings);
    let served = cordon_web::serve(listener, state, settings::shutdown_signal()).await;
    clock.abort();
    served?;
    Ok(())
}

/// The scheduled work of containment inside `cordon serve`: every
/// [`cordon_store::containment::job::TICK_EVERY`], zones proposed for new cases and the
/// zone clock applied at the profile's time of day (each step at most once, whichever
/// instance runs it first; missed days caught up). A failing tick is logged and retried
/// at the next one.
async fn zone_clock(store: Arc<dyn Store>, tz: cordon_domain::clock::DistrictTz) {
    use cordon_store::containment::job;
    let mut every = tokio::time::interval(job::TICK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match job::tick(store.as_ref(), chrono::Utc::now(), &tz).await {
            Ok(report) => {
                if let Some(w) = &report.profile_warning {
                    tracing::warn!(warning = %w, "zone clock: the stored profile is from an earlier release");
                }
                tracing::debug!(?report, "zone clock tick");
            }
            Err(e) => tracing::warn!(error = %e, "zone clock tick failed; retried at the next one"),
        }
    }
}

#[cfg(test)]
mod account_tests {
    use super::check_new_account;

    #[test]
    fn new_accounts_refuse_common_passwords_and_odd_names() {
        assert!(check_new_account("wang_li", "tall-river-lamp-42").is_ok());
        for (u, p) in [
            ("wang_li", "password123"),
            ("wang_li", "12345678901"),
            ("wang_li", "wang_li-2026!"),
            ("wang li", "tall-river-lamp-42"),
            ("", "tall-river-lamp-42"),
            ("w\u{202E}l", "tall-river-lamp-42"),
        ] {
            assert!(check_new_account(u, p).is_err(), "{u:?} {p:?}");
        }
        assert!(check_new_account(&"u".repeat(65), "tall-river-lamp-42").is_err());
    }
}
