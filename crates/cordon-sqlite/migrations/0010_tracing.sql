-- Cases and contact tracing (流调溯源): what tracing knows of each case, its
-- re-classification history, the trajectory, candidates, contacts, tasks and clusters.
-- Timestamps are RFC 3339 UTC text with six fractional digits; dates YYYY-MM-DD.

-- A case entered by the tracer has no source tube: SQLite cannot drop a NOT NULL, so the
-- table is rebuilt (nothing refers to it by foreign key) with tracing's columns.
CREATE TABLE cases_traced (
    id               INTEGER PRIMARY KEY,
    resident_id      INTEGER NOT NULL,
    source_tube      INTEGER,
    at               TEXT NOT NULL,
    classification   TEXT NOT NULL DEFAULT 'pending',
    how_found        TEXT NOT NULL DEFAULT 'individual_test',
    onset            TEXT,
    first_positive   TEXT,
    workplace        TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT 'investigating',
    known_before     INTEGER NOT NULL DEFAULT 0,
    source_case      INTEGER,
    cluster_id       INTEGER,
    narrative        TEXT NOT NULL DEFAULT '',
    created_by       TEXT NOT NULL DEFAULT 'lab',
    investigation_at TEXT,
    core_done_at     TEXT,
    traced_at        TEXT
);
INSERT INTO cases_traced (id, resident_id, source_tube, at) SELECT id, resident_id, source_tube, at FROM cases;
DROP TABLE cases;
ALTER TABLE cases_traced RENAME TO cases;
CREATE UNIQUE INDEX cases_resident ON cases (resident_id);
CREATE INDEX cases_untraced ON cases (id) WHERE traced_at IS NULL;
CREATE INDEX cases_source ON cases (source_case) WHERE source_case IS NOT NULL;

CREATE TABLE case_classifications (
    id        INTEGER PRIMARY KEY,
    case_id   INTEGER NOT NULL,
    from_code TEXT,
    to_code   TEXT NOT NULL,
    at        TEXT NOT NULL,
    by_user   TEXT NOT NULL
);
CREATE INDEX case_classifications_case ON case_classifications (case_id, id);

CREATE TABLE trace_places (
    id            INTEGER PRIMARY KEY,
    case_id       INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    place_id      INTEGER,
    label         TEXT NOT NULL,
    from_at       TEXT NOT NULL,
    until_at      TEXT NOT NULL,
    setting       TEXT,
    confirmed     INTEGER NOT NULL,
    exposure_site INTEGER NOT NULL,
    note          TEXT NOT NULL
);
CREATE INDEX trace_places_case ON trace_places (case_id, from_at);

CREATE TABLE trace_candidates (
    id            INTEGER PRIMARY KEY,
    case_id       INTEGER NOT NULL,
    resident_id   INTEGER NOT NULL,
    class         TEXT NOT NULL,
    source        TEXT NOT NULL,
    last_exposure TEXT NOT NULL,
    place_kind    TEXT,
    place_id      INTEGER,
    tube_id       INTEGER,
    seen_at       TEXT,
    case_at       TEXT,
    state         TEXT NOT NULL,
    proposed_at   TEXT NOT NULL,
    decided_at    TEXT,
    decided_by    TEXT,
    UNIQUE (case_id, resident_id)
);

CREATE TABLE trace_contacts (
    id            INTEGER PRIMARY KEY,
    case_id       INTEGER NOT NULL,
    resident_id   INTEGER,
    name          TEXT NOT NULL,
    id_number     TEXT,
    phone         TEXT,
    unit_code     TEXT,
    address       TEXT NOT NULL,
    household_id  INTEGER,
    class         TEXT NOT NULL,
    setting       TEXT NOT NULL,
    last_exposure TEXT NOT NULL,
    elicited_by   TEXT NOT NULL,
    status        TEXT NOT NULL,
    identified_at TEXT NOT NULL,
    notified_at   TEXT,
    status_at     TEXT NOT NULL,
    candidate_id  INTEGER
);
CREATE INDEX trace_contacts_case ON trace_contacts (case_id);
CREATE UNIQUE INDEX trace_contacts_case_resident ON trace_contacts (case_id, resident_id) WHERE resident_id IS NOT NULL;
CREATE INDEX trace_contacts_resident ON trace_contacts (resident_id, status) WHERE resident_id IS NOT NULL;
CREATE INDEX trace_contacts_unit ON trace_contacts (unit_code, status) WHERE unit_code IS NOT NULL;

CREATE TABLE trace_tasks (
    id      INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    due_at  TEXT NOT NULL,
    done_at TEXT,
    done_by TEXT
);
CREATE INDEX trace_tasks_case ON trace_tasks (case_id);

CREATE TABLE clusters (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- "Where was the case sampled": the trajectory's sampling events.
CREATE INDEX samples_resident_at ON samples (resident_id, at);
CREATE INDEX resamples_resident_at ON resamples (resident_id, at);
