-- A rejected row that a later accepted row of the same key made moot is 'superseded' and never
-- sent again; so is a desired-state row a newer diff of its table replaced. superseded_by is
-- the outbox row that superseded it (NULL: a newer diff that no longer asks for the change).
ALTER TABLE syncer.outbox DROP CONSTRAINT outbox_state_check;
ALTER TABLE syncer.outbox ADD CONSTRAINT outbox_state_check CHECK (
    state IN ('pending', 'sending', 'accepted', 'rejected', 'invalid', 'dropped', 'superseded')
);
ALTER TABLE syncer.outbox ADD COLUMN superseded_by bigint;
