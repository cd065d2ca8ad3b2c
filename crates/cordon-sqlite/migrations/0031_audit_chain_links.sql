-- The audit chain made concrete (0030 added the hash columns): each entry's place in
-- the chain, and the head as (place, hash) starting from the genesis hash. Entries
-- written before this migration stay outside the chain (chain_seq NULL).
ALTER TABLE audit_log ADD COLUMN chain_seq INTEGER;
CREATE UNIQUE INDEX audit_log_chain_seq ON audit_log (chain_seq);
DROP TABLE audit_chain_head;
CREATE TABLE audit_chain_head (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL
);
INSERT INTO audit_chain_head (singleton, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
