-- The sample ingest resolves a device batch's scanned people on a reader connection,
-- outside the single writer, and inside the write transaction only checks that no resident
-- was changed or removed in between: this counter is bumped by every such change.
-- Inserts do not bump it: a person found stays valid when others are registered, and a
-- scan that found nobody is looked up again inside the writer.
CREATE TABLE registry_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO registry_version (id, n) VALUES (1, 0);

CREATE TRIGGER residents_version_update AFTER UPDATE OF id, household_id, unit_code, name, id_number, status ON residents
BEGIN
    UPDATE registry_version SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER residents_version_delete AFTER DELETE ON residents
BEGIN
    UPDATE registry_version SET n = n + 1 WHERE id = 1;
END;

-- Every sample scan resolves a scanned ID number: one probe of this index answers it,
-- instead of the unique index and then the table row.
CREATE INDEX residents_id_number_scan ON residents (id_number, status, id, household_id, unit_code, name);
