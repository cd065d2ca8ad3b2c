-- Login throttling by keyed hashes of the account name and of the client address (never
-- a username as typed), one row per key; and the secrets of this deployment (the key of
-- those hashes). The old per-attempt table held usernames verbatim: it goes.
DROP TABLE IF EXISTS login_failures;

CREATE TABLE login_throttle (
    key      text COLLATE "C" PRIMARY KEY,
    failures integer NOT NULL,
    last_at  timestamptz NOT NULL,
    next_at  timestamptz NOT NULL
);

CREATE TABLE instance_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
