//! `cordon`: the one binary. It parses the command line, picks the storage backend from
//! the database URL (the only place that knows which backends exist), and runs a command:
//! migrate, generate, import, export, user, token, serve, demo, bench.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cordon::cli::main().await
}
