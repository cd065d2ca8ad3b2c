-- The audit chain made concrete (0030 added the hash columns). Entries written before
-- this migration stay outside the chain (chain_seq NULL).
-- The chain is linked at commit, by a deferred trigger: each committed entry takes the
-- next place (chain_seq) after the head, and the head row stays locked only from there
-- to the end of the commit. Entries of transactions committing at once are chained in
-- the order their commits take the head; an id says when an entry was written, chain_seq
-- where it sits in the chain. The bytes hashed are those of
-- cordon_domain::audit::chain_hash (each field `<byte length>:<text>;`, the instant in
-- UTC with six fractional digits).
ALTER TABLE audit_log ADD COLUMN chain_seq bigint;
CREATE UNIQUE INDEX audit_log_chain_seq_idx ON audit_log (chain_seq);
DROP TABLE audit_chain_head;
CREATE TABLE audit_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint NOT NULL,
    hash      text NOT NULL
);
INSERT INTO audit_chain_head (singleton, seq, hash)
VALUES (true, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE FUNCTION audit_chain_field(v text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT octet_length(v)::text || ':' || v || ';' $$;

CREATE FUNCTION audit_chain_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_seq  bigint;
    head_hash text;
    link      text;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_chain_head WHERE singleton FOR UPDATE;
    link := encode(sha256(convert_to(head_hash
        || audit_chain_field(to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        || audit_chain_field(coalesce(NEW.actor_id::text, ''))
        || audit_chain_field(NEW.actor)
        || audit_chain_field(coalesce(NEW.role, ''))
        || audit_chain_field(NEW.action)
        || audit_chain_field(NEW.target_kind)
        || audit_chain_field(NEW.target)
        || audit_chain_field(NEW.request_id)
        || audit_chain_field(NEW.detail), 'UTF8')), 'hex');
    UPDATE audit_log SET chain_seq = head_seq + 1, prev_hash = head_hash, hash = link WHERE id = NEW.id;
    UPDATE audit_chain_head SET seq = head_seq + 1, hash = link WHERE singleton;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER audit_chain AFTER INSERT ON audit_log
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_chain_link();
