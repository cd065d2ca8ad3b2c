-- Coverage counts the samples of active residents only. Samples are counted from their own
-- (round_id, unit_code) index, and the few of residents no longer active (moved out since)
-- are found through this index and taken off, instead of looking up every sample's resident.
CREATE INDEX residents_inactive ON residents (unit_code, id) WHERE status <> 'active';
