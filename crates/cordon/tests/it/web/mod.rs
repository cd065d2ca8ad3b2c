//! The HTTP tests: a real server ([`app::spawn_app`]) on the backend `CORDON_TEST_BACKEND`
//! names, driven over HTTP. `scripts/test.sh` runs them on SQLite and again on PostgreSQL
//! (`cargo test --test it web::`).
mod accounts;
mod app;
mod authz;
mod codes;
mod exports;
mod http;
mod instructions;
mod pages;
mod quarantine;
mod resample;
mod scanpath;
mod security;
mod testing;
mod tracing;
mod zones_followup;
