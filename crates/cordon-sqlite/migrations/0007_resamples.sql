-- Re-samples (单采单检): a member of a positive pool swabbed again, into a single tube,
-- in the round they were pooled in. Not a second sample: their first sample stays in
-- `samples` (the round is attended); the re-sample's individual result clears or
-- confirms them.
CREATE TABLE resamples (
    id          INTEGER PRIMARY KEY,
    round_id    INTEGER NOT NULL,
    resident_id INTEGER NOT NULL,
    tube_id     INTEGER NOT NULL,
    unit_code   TEXT NOT NULL,
    at          TEXT NOT NULL,
    by_user     INTEGER NOT NULL,
    UNIQUE (round_id, resident_id, tube_id)
);
CREATE INDEX resamples_tube ON resamples (tube_id);
-- When the person of a re-sampling task was swabbed individually (time to re-sample).
ALTER TABLE resample_tasks ADD COLUMN sampled_at TEXT;
