mod app;
mod codes;
mod conformance_pg;
mod conformance_sqlite;
mod http;
mod sheets;
mod testing;
mod codes_authz;
