-- Credentials that can be revoked (issue 10): accounts that can be disabled, bearer
-- tokens with an id, a name (the old label), an expiry, a last use and a revocation.
-- Tokens issued before this migration live a year from their creation.
-- And the tamper-evident audit log: each entry carries the hash of the one before it
-- (entries written before this migration have none; the chain starts after them), and
-- the chain's head is kept in one row so that a cut-off tail is noticed.

ALTER TABLE users ADD COLUMN disabled_at TEXT;

CREATE TABLE api_tokens_v2 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
INSERT INTO api_tokens_v2 (token_hash, user_id, label, created_at, expires_at)
SELECT token_hash, user_id, label, created_at,
       strftime('%Y-%m-%dT%H:%M:%S', created_at, '+365 days') || substr(created_at, 20)
FROM api_tokens ORDER BY created_at, token_hash;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_v2 RENAME TO api_tokens;
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE INDEX sessions_user ON sessions (user_id);

ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE TABLE audit_chain_head (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_id INTEGER NOT NULL,
    hash    TEXT NOT NULL
);
