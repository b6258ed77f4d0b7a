-- What analysts read besides the mirror (issue 14). The analyst role (syncer grant-analyst)
-- may read these two schemas, as it reads mirror and mirror_view; never schema syncer.
--   mirror_meta:    views of freshness, run history, quarantine counts and schema changes,
--                   holding no secret, no URL and no raw payload
--   mirror_history: one table per stream with `history = true`: every version of every key
CREATE SCHEMA IF NOT EXISTS mirror_meta;
CREATE SCHEMA IF NOT EXISTS mirror_history;

-- Each change of a stream's typed view, as the analyst sees it: a field that got a column, a
-- column whose field changed type, a field absent from several complete passes, and a change of
-- the stream's `exclude` or `hash` lists. `path` is the field's path in the record, `column_name`
-- its column in mirror_view.<table>; `detail` says what happened in words.
CREATE TABLE syncer.schema_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id   bigint NOT NULL REFERENCES syncer.streams,
    run_id      bigint REFERENCES syncer.runs,
    at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    kind        text NOT NULL CHECK (kind IN (
                    'new_field', 'type_change', 'field_absent',
                    'excluded', 'included', 'hashed', 'unhashed')),
    path        text[] NOT NULL,
    column_name text,
    old_type    text,
    new_type    text,
    detail      text NOT NULL
);
CREATE INDEX schema_changes_stream_at ON syncer.schema_changes (stream_id, at);
