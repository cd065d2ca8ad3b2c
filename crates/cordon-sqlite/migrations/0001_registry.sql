-- The population register: the area tree, households, residents, grids and building
-- leaders. Area codes are digit strings whose prefixes are their ancestors, so every
-- "under this area" question is a range scan on a code column (code >= X AND code < X||':').

CREATE TABLE areas (
    code  TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    level TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX areas_level_code ON areas (level, code);

CREATE TABLE households (
    id        INTEGER PRIMARY KEY,
    unit_code TEXT NOT NULL REFERENCES areas (code),
    room      TEXT NOT NULL,
    UNIQUE (unit_code, room)
);

CREATE TABLE residents (
    id            INTEGER PRIMARY KEY,
    household_id  INTEGER NOT NULL REFERENCES households (id),
    -- Copied from the household so that area scans never need the join.
    unit_code     TEXT NOT NULL,
    name          TEXT NOT NULL,
    id_number     TEXT NOT NULL UNIQUE,
    phone         TEXT,
    bedridden     INTEGER NOT NULL DEFAULT 0,
    no_smartphone INTEGER NOT NULL DEFAULT 0,
    temporary     INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'moved_out'))
);
-- household_id makes the area counts (residents, distinct households) index-only.
CREATE INDEX residents_unit_status ON residents (unit_code, status, household_id);
-- unit_code lets a scoped name search reject out-of-scope rows without a table lookup.
CREATE INDEX residents_name ON residents (name, unit_code);
CREATE INDEX residents_phone ON residents (phone) WHERE phone IS NOT NULL;

CREATE TABLE grids (
    id             INTEGER PRIMARY KEY,
    community_code TEXT NOT NULL,
    name           TEXT NOT NULL,
    worker_name    TEXT NOT NULL,
    worker_phone   TEXT
);
CREATE INDEX grids_community ON grids (community_code);

CREATE TABLE grid_buildings (
    grid_id       INTEGER NOT NULL REFERENCES grids (id),
    building_code TEXT NOT NULL,
    PRIMARY KEY (grid_id, building_code)
) WITHOUT ROWID;
CREATE INDEX grid_buildings_building ON grid_buildings (building_code);

CREATE TABLE building_leaders (
    building_code TEXT PRIMARY KEY,
    resident_id   INTEGER NOT NULL REFERENCES residents (id)
) WITHOUT ROWID;
