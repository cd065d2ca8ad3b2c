//! Cordon's integration tests, one binary: the conformance suites and the differential
//! test on both backends, the spreadsheets, and (under `web::`) the HTTP tests against a
//! real server, whose backend `CORDON_TEST_BACKEND` picks (`sqlite`, the default, or
//! `postgres`).
mod conformance_pg;
mod conformance_sqlite;
mod differential;
mod roster;
mod sheets;
mod web;
