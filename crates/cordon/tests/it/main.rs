mod app;
mod conformance_pg;
mod conformance_sqlite;
mod http;
mod sheets;
