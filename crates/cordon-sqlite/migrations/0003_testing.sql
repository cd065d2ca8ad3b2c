-- Mass testing: rounds, sites, tubes, boxes, samples, results and the positive-pool
-- chase, exemptions, door-knock tasks, enforcement records, alerts.
-- Timestamps are RFC 3339 UTC text with six fractional digits (text order = time order).

CREATE TABLE test_rounds (
    id         INTEGER PRIMARY KEY,
    area_code  TEXT NOT NULL,
    date       TEXT NOT NULL,
    mandatory  INTEGER NOT NULL,
    pool_size  INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE sampling_sites (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    address TEXT NOT NULL,
    hours   TEXT NOT NULL
);
CREATE TABLE sampling_site_areas (
    site_id   INTEGER NOT NULL REFERENCES sampling_sites (id),
    area_code TEXT NOT NULL,
    PRIMARY KEY (site_id, area_code)
) WITHOUT ROWID;
CREATE INDEX sampling_site_areas_code ON sampling_site_areas (area_code);

CREATE TABLE boxes (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    created_by  INTEGER NOT NULL,
    received_at TEXT,
    received_by INTEGER
);

CREATE TABLE tubes (
    id          INTEGER PRIMARY KEY,
    round_id    INTEGER NOT NULL REFERENCES test_rounds (id),
    barcode     TEXT NOT NULL UNIQUE,
    capacity    INTEGER NOT NULL,
    state       TEXT NOT NULL,
    count       INTEGER NOT NULL DEFAULT 0,
    box_id      INTEGER REFERENCES boxes (id),
    opened_at   TEXT NOT NULL,
    opened_by   INTEGER NOT NULL,
    sealed_at   TEXT,
    sealed_by   INTEGER,
    boxed_at    TEXT,
    boxed_by    INTEGER,
    received_at TEXT,
    received_by INTEGER,
    resulted_at TEXT,
    resulted_by INTEGER,
    result      TEXT,
    ct          REAL
);
CREATE INDEX tubes_box ON tubes (box_id) WHERE box_id IS NOT NULL;
CREATE INDEX tubes_round_result ON tubes (round_id, result) WHERE result IS NOT NULL;

-- One row per resident sampled in a round. unit_code is copied from the resident so that
-- coverage under an area is a range scan of (round_id, unit_code) alone.
CREATE TABLE samples (
    id          INTEGER PRIMARY KEY,
    round_id    INTEGER NOT NULL,
    resident_id INTEGER NOT NULL,
    tube_id     INTEGER NOT NULL,
    unit_code   TEXT NOT NULL,
    at          TEXT NOT NULL,
    by_user     INTEGER NOT NULL
);
CREATE UNIQUE INDEX samples_round_resident ON samples (round_id, resident_id);
CREATE INDEX samples_round_unit ON samples (round_id, unit_code);
CREATE INDEX samples_tube ON samples (tube_id);

-- People not on the register, sampled as visitors.
CREATE TABLE visitor_samples (
    id        INTEGER PRIMARY KEY,
    round_id  INTEGER NOT NULL,
    tube_id   INTEGER NOT NULL,
    id_number TEXT NOT NULL,
    phone     TEXT,
    at        TEXT NOT NULL,
    by_user   INTEGER NOT NULL,
    UNIQUE (round_id, id_number)
);
CREATE INDEX visitor_samples_tube ON visitor_samples (tube_id);

-- Samples of tubes found invalid: kept for the chain of custody, out of the counts.
CREATE TABLE invalid_samples (
    round_id    INTEGER NOT NULL,
    resident_id INTEGER NOT NULL,
    tube_id     INTEGER NOT NULL,
    unit_code   TEXT NOT NULL,
    at          TEXT NOT NULL,
    invalid_at  TEXT NOT NULL
);

-- Device batches already applied (idempotent replays).
CREATE TABLE scan_batches (
    batch_id TEXT PRIMARY KEY,
    round_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    at       TEXT NOT NULL,
    items    INTEGER NOT NULL,
    accepted INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE exemptions (
    round_id    INTEGER NOT NULL,
    resident_id INTEGER NOT NULL,
    unit_code   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    proof       TEXT NOT NULL,
    by_user     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (round_id, resident_id)
) WITHOUT ROWID;
CREATE INDEX exemptions_round_unit ON exemptions (round_id, unit_code);

-- Positive-pool chase.
CREATE TABLE chases (
    tube_id               INTEGER PRIMARY KEY,
    round_id              INTEGER NOT NULL,
    members               INTEGER NOT NULL,
    households_controlled INTEGER NOT NULL,
    tasks_created         INTEGER NOT NULL,
    result_at             TEXT NOT NULL,
    chased_at             TEXT NOT NULL
);
CREATE TABLE pool_positives (
    round_id    INTEGER NOT NULL,
    resident_id INTEGER NOT NULL,
    tube_id     INTEGER NOT NULL,
    unit_code   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'cleared', 'confirmed')),
    marked_at   TEXT NOT NULL,
    resolved_at TEXT,
    PRIMARY KEY (round_id, resident_id)
) WITHOUT ROWID;
CREATE INDEX pool_positives_resident ON pool_positives (resident_id, status);
CREATE INDEX pool_positives_tube ON pool_positives (tube_id);
CREATE TABLE home_controls (
    household_id INTEGER PRIMARY KEY,
    since        TEXT NOT NULL,
    source_tube  INTEGER
);
CREATE TABLE resample_tasks (
    id          INTEGER PRIMARY KEY,
    round_id    INTEGER NOT NULL,
    resident_id INTEGER NOT NULL,
    tube_id     INTEGER NOT NULL,
    site_id     INTEGER,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    done_at     TEXT
);
CREATE INDEX resample_tasks_resident ON resample_tasks (resident_id) WHERE done_at IS NULL;
CREATE TABLE cases (
    id          INTEGER PRIMARY KEY,
    resident_id INTEGER NOT NULL,
    source_tube INTEGER NOT NULL,
    at          TEXT NOT NULL
);
CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    round_id   INTEGER NOT NULL,
    tube_id    INTEGER NOT NULL,
    members    INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

-- Door-knocking.
CREATE TABLE door_tasks (
    id           INTEGER PRIMARY KEY,
    round_id     INTEGER NOT NULL,
    household_id INTEGER NOT NULL,
    unit_code    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   INTEGER NOT NULL,
    outcome      TEXT,
    note         TEXT NOT NULL DEFAULT '',
    done_at      TEXT,
    done_by      INTEGER
);
CREATE INDEX door_tasks_round_unit ON door_tasks (round_id, unit_code);
CREATE UNIQUE INDEX door_tasks_open ON door_tasks (round_id, household_id) WHERE outcome IS NULL;
CREATE TABLE enforcements (
    id           INTEGER PRIMARY KEY,
    task_id      INTEGER NOT NULL,
    household_id INTEGER NOT NULL,
    unit_code    TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX enforcements_unit ON enforcements (unit_code);
CREATE TABLE missing_reports (
    id            INTEGER PRIMARY KEY,
    round_id      INTEGER NOT NULL,
    building_code TEXT NOT NULL,
    missing       INTEGER NOT NULL,
    note          TEXT NOT NULL,
    by_user       INTEGER NOT NULL,
    at            TEXT NOT NULL
);
