-- syncer's own schema. Mirror tables live in schema "mirror", typed views in "mirror_view".
CREATE SCHEMA IF NOT EXISTS syncer;
CREATE SCHEMA IF NOT EXISTS mirror;
CREATE SCHEMA IF NOT EXISTS mirror_view;

-- One row per (connection, stream): the names of its table and view.
CREATE TABLE syncer.streams (
    stream_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection  text NOT NULL,
    stream      text NOT NULL,
    table_name  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connection, stream)
);

-- Where a stream's reading stands. A pass is one walk over the stream's pages; while one is
-- in progress, checkpoint_page is the highest contiguous page merged, committed together
-- with that page's rows.
CREATE TABLE syncer.stream_state (
    stream_id           bigint PRIMARY KEY REFERENCES syncer.streams,
    pass_id             bigint,
    pass_mode           text CHECK (pass_mode IN ('full', 'incremental')),
    pass_params         jsonb,
    pass_started_at     timestamptz,
    checkpoint_page     integer NOT NULL DEFAULT 0,
    pass_keys_written   bigint NOT NULL DEFAULT 0,
    pass_max_updated_at timestamptz,
    cursor              timestamptz,
    last_full_pass      bigint,
    last_full_pass_at   timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE syncer.pass_seq;

-- Keys seen by the full pass in progress, for delete inference at its end. UNLOGGED: no WAL.
-- After a Postgres crash it comes back empty; pass_keys_written detects that, and the pass
-- then infers no deletes.
CREATE UNLOGGED TABLE syncer.pass_keys (
    pass_id bigint NOT NULL,
    key     text NOT NULL
);
CREATE INDEX pass_keys_pass_key ON syncer.pass_keys (pass_id, key);

-- Keys missing from a complete full pass and not yet confirmed deleted.
CREATE TABLE syncer.missing_keys (
    stream_id          bigint NOT NULL REFERENCES syncer.streams,
    key                text NOT NULL,
    first_missing_pass bigint NOT NULL,
    PRIMARY KEY (stream_id, key)
);

-- The fields seen in a stream's records, with their JSON types: drives the typed view.
CREATE TABLE syncer.stream_fields (
    stream_id  bigint NOT NULL REFERENCES syncer.streams,
    path       text[] NOT NULL,
    json_type  text NOT NULL,
    PRIMARY KEY (stream_id, path, json_type)
);

-- One row per stream run.
CREATE TABLE syncer.runs (
    run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invocation    uuid NOT NULL,
    connection    text NOT NULL,
    stream        text NOT NULL,
    mode          text NOT NULL,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'quarantined', 'failed', 'abandoned')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    pass_id       bigint,
    resumed_from_page integer NOT NULL DEFAULT 0,
    pages         integer NOT NULL DEFAULT 0,
    records       bigint NOT NULL DEFAULT 0,
    requests      integer NOT NULL DEFAULT 0,
    rate_limited  integer NOT NULL DEFAULT 0,
    retries       integer NOT NULL DEFAULT 0,
    inserted      bigint NOT NULL DEFAULT 0,
    updated       bigint NOT NULL DEFAULT 0,
    unchanged     bigint NOT NULL DEFAULT 0,
    deleted       bigint NOT NULL DEFAULT 0,
    quarantined   bigint NOT NULL DEFAULT 0,
    error         text
);
CREATE INDEX runs_stream_started ON syncer.runs (connection, stream, started_at DESC);

-- Records that could not be stored, with the reason and the payload as text.
CREATE TABLE syncer.quarantine (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id   bigint NOT NULL REFERENCES syncer.streams,
    run_id      bigint NOT NULL REFERENCES syncer.runs,
    page        integer,
    key         text,
    reason      text NOT NULL,
    raw         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Casts for the typed views: a value that does not parse becomes NULL instead of failing the query.
CREATE FUNCTION syncer.try_timestamptz(value text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE FUNCTION syncer.try_date(value text) RETURNS date
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN value::date;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

