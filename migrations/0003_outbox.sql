-- Push: rows applications and analysts insert to change data at a vendor, and their outcomes.
CREATE TABLE syncer.outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection      text NOT NULL,
    endpoint        text NOT NULL,   -- e.g. 'master:LOCATION'
    operation       text NOT NULL DEFAULT 'upsert',
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'accepted', 'rejected', 'invalid', 'dropped')),
    attempts        integer NOT NULL DEFAULT 0,
    vendor_id       text,            -- the vendor's id for the row, where it tells
    message         text,            -- why it was rejected or invalid
    push_id         bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_to_send ON syncer.outbox (connection, endpoint, id)
    WHERE state IN ('pending', 'sending', 'rejected');
CREATE SEQUENCE syncer.push_seq;
