-- Trust (issue 10).
-- A pass's completeness evidence, committed with each checkpoint: the reasons it is incomplete
-- so far (page counts that contradict the vendor's report, a repeated page) and what a resumed
-- pass needs to go on checking (the last page's fingerprint, the first short page).
ALTER TABLE syncer.stream_state ADD COLUMN pass_problems text[] NOT NULL DEFAULT '{}';
ALTER TABLE syncer.stream_state ADD COLUMN pass_evidence jsonb;

-- A run whose pass ended incomplete merged what it read but inferred no deletes and left the
-- cursor where it was; `complete` says, for a run that finished a pass, whether it was complete.
ALTER TABLE syncer.runs DROP CONSTRAINT IF EXISTS runs_status_check;
ALTER TABLE syncer.runs ADD CONSTRAINT runs_status_check CHECK (
    status IN ('running', 'succeeded', 'quarantined', 'incomplete', 'failed', 'abandoned')
);
ALTER TABLE syncer.runs ADD COLUMN complete boolean;

-- Fencing tokens: every holder of a stream's (or a push's) advisory lock takes the next token,
-- and checks it, row-locked, in the same transaction as each of its writes. A run whose lock's
-- session died (idle_session_timeout, a terminated backend) loses to the next holder before
-- its next commit.
CREATE TABLE syncer.fences (
    name     text PRIMARY KEY,
    token    bigint NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
);

-- Deletes a complete pass confirmed but held because they exceed the stream's share
-- (max_delete_share): applied by `syncer deletes confirm`, dropped by `syncer deletes discard`
-- or by the next complete pass (which decides afresh); a key seen again leaves the list.
CREATE TABLE syncer.held_deletes (
    stream_id bigint NOT NULL REFERENCES syncer.streams,
    key       text NOT NULL,
    pass_id   bigint NOT NULL,
    run_id    bigint NOT NULL,
    held_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, key)
);

-- A cursor in the future came from a record stamped in the future (before the cursor was capped
-- at the pass's start) and would hide every later change from incremental runs: forget it, so
-- the next incremental run reads in full once.
UPDATE syncer.stream_state SET cursor = NULL WHERE cursor > now();
