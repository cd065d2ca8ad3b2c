-- Login throttling by keyed hashes of the account name and of the client address (never
-- a username as typed), one row per key; and the secrets of this deployment (the key of
-- those hashes). The old per-attempt table held usernames verbatim: it goes.
DROP TABLE IF EXISTS login_failures;

CREATE TABLE login_throttle (
    key      TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_at  TEXT NOT NULL,
    next_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE instance_secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
