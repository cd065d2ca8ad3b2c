-- Containment: the zone clock (proposals, history, applied days), quarantine sites and
-- rooms, the to-isolate queue, quarantine orders with their tests, room stays and health
-- checks, closed-loop transfer runs and the idempotency keys of drivers' devices.
-- Timestamps are RFC 3339 UTC text with six fractional digits; dates are YYYY-MM-DD.

CREATE TABLE zone_proposals (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL,
    case_unit   TEXT NOT NULL,
    area_code   TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('high', 'medium', 'low')),
    reason      TEXT NOT NULL,
    proposed_at TEXT NOT NULL,
    status      TEXT NOT NULL,
    decided_at  TEXT,
    decided_by  TEXT,
    zone_id     INTEGER
);
CREATE INDEX zone_proposals_area ON zone_proposals (area_code, status);

-- Cases the sweep has taken (each proposes zones once).
CREATE TABLE zone_cases_seen (
    case_id INTEGER PRIMARY KEY,
    at      TEXT NOT NULL
);

CREATE TABLE zone_events (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    area_code   TEXT NOT NULL,
    zone_id     INTEGER,
    new_zone_id INTEGER,
    from_level  TEXT,
    to_level    TEXT,
    proposal_id INTEGER,
    day         TEXT,
    at          TEXT NOT NULL,
    by_user     TEXT NOT NULL,
    note        TEXT NOT NULL
);
-- A designation steps down at most once, whatever runs the clock.
CREATE UNIQUE INDEX zone_events_step_once ON zone_events (zone_id) WHERE kind = 'stepped';
CREATE INDEX zone_events_area ON zone_events (area_code, id);
CREATE INDEX zone_events_new_zone ON zone_events (new_zone_id) WHERE new_zone_id IS NOT NULL;

-- One row per applied day of the clock: the day applies once.
CREATE TABLE zone_runs (
    day        TEXT PRIMARY KEY,
    at         TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    by_user    TEXT NOT NULL,
    steps      INTEGER NOT NULL,
    held       INTEGER NOT NULL,
    profile    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE quarantine_sites (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    address         TEXT NOT NULL,
    area_code       TEXT NOT NULL,
    manager         TEXT NOT NULL,
    manager_user_id INTEGER,
    manager_phone   TEXT,
    -- Category codes, space-separated.
    categories      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX quarantine_sites_area ON quarantine_sites (area_code);

CREATE TABLE quarantine_rooms (
    id       INTEGER PRIMARY KEY,
    site_id  INTEGER NOT NULL REFERENCES quarantine_sites (id),
    floor    INTEGER NOT NULL,
    number   TEXT NOT NULL,
    beds     INTEGER NOT NULL CHECK (beds > 0),
    state    TEXT NOT NULL CHECK (state IN ('free', 'occupied', 'cleaning', 'out_of_service')),
    state_at TEXT NOT NULL,
    UNIQUE (site_id, number)
);

CREATE TABLE isolation_queue (
    contact_id    INTEGER PRIMARY KEY,
    resident_id   INTEGER,
    name          TEXT NOT NULL,
    id_number     TEXT,
    phone         TEXT,
    unit_code     TEXT,
    address       TEXT NOT NULL,
    household_id  INTEGER,
    class         TEXT NOT NULL CHECK (class IN ('close', 'secondary')),
    last_exposure TEXT NOT NULL,
    identified_at TEXT NOT NULL,
    deadline      TEXT NOT NULL,
    status        TEXT NOT NULL,
    order_id      INTEGER,
    updated_at    TEXT NOT NULL
);
CREATE INDEX isolation_queue_status ON isolation_queue (status, deadline);

CREATE TABLE transfer_runs (
    id             INTEGER PRIMARY KEY,
    plate          TEXT NOT NULL,
    driver         TEXT NOT NULL,
    driver_user_id INTEGER,
    team           TEXT NOT NULL,
    seats          INTEGER NOT NULL,
    site_id        INTEGER NOT NULL REFERENCES quarantine_sites (id),
    state          TEXT NOT NULL CHECK (state IN ('dispatched', 'completed')),
    dispatched_at  TEXT NOT NULL,
    dispatched_by  TEXT NOT NULL,
    completed_at   TEXT
);
CREATE INDEX transfer_runs_open ON transfer_runs (state, driver_user_id);

CREATE TABLE quarantine_orders (
    id                INTEGER PRIMARY KEY,
    resident_id       INTEGER,
    name              TEXT NOT NULL,
    id_number         TEXT,
    phone             TEXT,
    unit_code         TEXT,
    address           TEXT NOT NULL,
    household_id      INTEGER,
    category          TEXT NOT NULL,
    contact_id        INTEGER,
    reason            TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('centralised', 'home')),
    last_exposure     TEXT NOT NULL,
    start_date        TEXT NOT NULL,
    centralised_until TEXT,
    end_date          TEXT NOT NULL,
    centralised_days  INTEGER NOT NULL,
    home_days         INTEGER NOT NULL,
    state             TEXT NOT NULL,
    transfer_state    TEXT,
    run_id            INTEGER REFERENCES transfer_runs (id),
    site_id           INTEGER REFERENCES quarantine_sites (id),
    room_id           INTEGER REFERENCES quarantine_rooms (id),
    identified_at     TEXT NOT NULL,
    ordered_at        TEXT NOT NULL,
    ordered_by        TEXT NOT NULL,
    picked_up_at      TEXT,
    picked_up_by      TEXT,
    arrived_at        TEXT,
    arrived_by        TEXT,
    in_quarantine_at  TEXT,
    released_at       TEXT,
    released_by       TEXT,
    closed_at         TEXT,
    closed_by         TEXT,
    case_at           TEXT
);
-- One order per queued contact, and one open order per person: nobody is in two
-- vehicles or two rooms.
CREATE UNIQUE INDEX quarantine_orders_contact ON quarantine_orders (contact_id) WHERE contact_id IS NOT NULL;
CREATE UNIQUE INDEX quarantine_orders_open_resident ON quarantine_orders (resident_id)
    WHERE resident_id IS NOT NULL AND state IN ('ordered', 'in_transfer', 'in_quarantine', 'home_monitoring');
CREATE UNIQUE INDEX quarantine_orders_open_id_number ON quarantine_orders (id_number)
    WHERE id_number IS NOT NULL AND state IN ('ordered', 'in_transfer', 'in_quarantine', 'home_monitoring');
CREATE INDEX quarantine_orders_state ON quarantine_orders (state, transfer_state);
CREATE INDEX quarantine_orders_unit ON quarantine_orders (unit_code, state);
CREATE INDEX quarantine_orders_site ON quarantine_orders (site_id, state);
CREATE INDEX quarantine_orders_room ON quarantine_orders (room_id) WHERE room_id IS NOT NULL;
CREATE INDEX quarantine_orders_run ON quarantine_orders (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE order_tests (
    order_id   INTEGER NOT NULL REFERENCES quarantine_orders (id),
    day        INTEGER NOT NULL,
    phase_day  INTEGER NOT NULL,
    phase      TEXT NOT NULL CHECK (phase IN ('centralised', 'home')),
    date       TEXT NOT NULL,
    place      TEXT NOT NULL CHECK (place IN ('site', 'door')),
    status     TEXT NOT NULL,
    sampled_at TEXT,
    result_at  TEXT,
    PRIMARY KEY (order_id, day)
) WITHOUT ROWID;
CREATE INDEX order_tests_date ON order_tests (date, status);

CREATE TABLE room_stays (
    id       INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES quarantine_orders (id),
    room_id  INTEGER NOT NULL REFERENCES quarantine_rooms (id),
    from_at  TEXT NOT NULL,
    by_user  TEXT NOT NULL,
    left_at  TEXT
);
CREATE INDEX room_stays_order ON room_stays (order_id, room_id);

CREATE TABLE health_checks (
    id                 INTEGER PRIMARY KEY,
    order_id           INTEGER NOT NULL REFERENCES quarantine_orders (id),
    at                 TEXT NOT NULL,
    temperature_tenths INTEGER NOT NULL,
    -- Symptom codes, space-separated.
    symptoms           TEXT NOT NULL,
    note               TEXT NOT NULL,
    alarm              INTEGER NOT NULL,
    by_user_id         INTEGER,
    by_user            TEXT NOT NULL
);
CREATE INDEX health_checks_order ON health_checks (order_id, at);

-- Idempotency keys of drivers' devices (pickups and arrivals).
CREATE TABLE device_ops (
    key      TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    run_id   INTEGER NOT NULL,
    order_id INTEGER,
    at       TEXT NOT NULL
) WITHOUT ROWID;
