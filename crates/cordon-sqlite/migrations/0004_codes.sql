-- Health codes: the active policy profile, risk zones, signing keys, checkpoints with
-- guards and their scan log, venues and check-ins, passes. Timestamps are fixed-width
-- RFC 3339 UTC text, so text order is time order.

-- One row: the district's active profile (name and the TOML it came from).
CREATE TABLE policy_setting (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    name       TEXT NOT NULL,
    source     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE risk_zones (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    area_code     TEXT NOT NULL,
    level         TEXT NOT NULL CHECK (level IN ('high', 'medium', 'low')),
    reason        TEXT NOT NULL,
    starts_at     TEXT NOT NULL,
    ends_at       TEXT,
    designated_by TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
-- A resident's lineage is up to four codes: each is an equality probe on this index.
CREATE INDEX risk_zones_area ON risk_zones (area_code, ends_at);

CREATE TABLE signing_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    district   TEXT NOT NULL,
    public_key BLOB NOT NULL,
    secret_key BLOB NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT,
    revoked_at TEXT
);

CREATE TABLE checkpoints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    area_code  TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX checkpoints_area ON checkpoints (area_code);

CREATE TABLE checkpoint_guards (
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints (id),
    user_id       INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (checkpoint_id, user_id)
) WITHOUT ROWID;
CREATE INDEX checkpoint_guards_user ON checkpoint_guards (user_id, checkpoint_id);

CREATE TABLE checkpoint_scans (
    id            INTEGER PRIMARY KEY,
    checkpoint_id INTEGER NOT NULL,
    at            TEXT NOT NULL,
    direction     TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    subject       TEXT NOT NULL CHECK (subject IN ('person', 'pass', 'invalid')),
    resident_id   INTEGER,
    pass_id       INTEGER,
    colour        TEXT,
    allowed       INTEGER NOT NULL,
    code          TEXT NOT NULL,
    guard_id      INTEGER
);
-- "Who passed checkpoint C between t1 and t2" and "where was person P": co-presence.
CREATE INDEX checkpoint_scans_cp_at ON checkpoint_scans (checkpoint_id, at);
CREATE INDEX checkpoint_scans_person_at ON checkpoint_scans (resident_id, at) WHERE resident_id IS NOT NULL;

CREATE TABLE venues (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    area_code  TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX venues_area ON venues (area_code);

CREATE TABLE venue_checkins (
    id          INTEGER PRIMARY KEY,
    venue_id    INTEGER NOT NULL,
    resident_id INTEGER NOT NULL,
    at          TEXT NOT NULL
);
-- "Who was at venue V between t1 and t2": one range scan.
CREATE INDEX venue_checkins_venue_at ON venue_checkins (venue_id, at, resident_id);
CREATE INDEX venue_checkins_person_at ON venue_checkins (resident_id, at);

CREATE TABLE passes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    holder_kind   TEXT NOT NULL CHECK (holder_kind IN ('person', 'vehicle')),
    resident_id   INTEGER,
    plate         TEXT,
    holder_label  TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    -- Area codes the pass opens, space-separated.
    scope         TEXT NOT NULL,
    valid_from    TEXT NOT NULL,
    valid_until   TEXT NOT NULL,
    issuer_id     INTEGER NOT NULL,
    issuer        TEXT NOT NULL,
    issued_at     TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX passes_resident ON passes (resident_id) WHERE resident_id IS NOT NULL;
