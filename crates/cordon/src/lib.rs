//! The `cordon` crate: the command line, the demo, the benchmarks, and the one place
//! that picks a storage backend from a database URL ([`open_store`]). `main.rs` only calls
//! [`cli::main`]; integration tests drive the same functions.
//!
//! Architecture Invariant: no other crate names `cordon_sqlite` or `cordon_postgres`.

pub mod bench;
pub mod bench_codes;
pub mod bench_containment;
pub mod bench_testing;
pub mod cli;
pub mod codes_cli;
pub mod credentials_cli;
pub mod demo;
pub mod demo_containment;
pub mod demo_testing;
pub mod demo_zones;
pub mod loadgen;
pub mod settings;

pub use cli::{add_user, generate, open_store, serve};
