-- Typed views that survive analysts' objects and say what changed (issue 14, part "schema").
--
-- A typed view is only ever replaced (CREATE OR REPLACE VIEW), never dropped: Postgres then
-- keeps every published column's name, type and position, and lets new columns be added at the
-- end, so an analyst's views and materialized views on mirror_view.<table> keep working. A
-- published column never changes type: when a field's values change kind, the column keeps its
-- type (holding the values that still fit it, NULL for the others) and a new column
-- <name>_<type> holds the field in its new type.

-- The published columns of each typed view, in the order they were added (seq): what the
-- view's CREATE OR REPLACE must keep, and what it may append. A field has one column per type
-- it has been published as. run_id: the run that added it.
CREATE TABLE syncer.view_columns (
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    stream_id   bigint NOT NULL REFERENCES syncer.streams,
    column_name text NOT NULL,
    path        text[] NOT NULL,
    column_type text NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    run_id      bigint REFERENCES syncer.runs,
    PRIMARY KEY (stream_id, column_name),
    UNIQUE (stream_id, path, column_type)
);

-- The columns the views already have, in the order the views have them.
INSERT INTO syncer.view_columns (stream_id, column_name, path, column_type, added_at)
SELECT c.stream_id, c.column_name, c.path, c.column_type, c.assigned_at
FROM syncer.stream_columns c
JOIN syncer.streams s ON s.stream_id = c.stream_id
LEFT JOIN pg_catalog.pg_attribute a
       ON a.attrelid = pg_catalog.to_regclass('mirror_view.' || pg_catalog.quote_ident(s.table_name))
      AND a.attname = c.column_name
WHERE c.column_name IS NOT NULL AND c.column_type IS NOT NULL
ORDER BY c.stream_id, a.attnum NULLS LAST, c.path;

-- How many consecutive complete full passes have not seen a field (reset when one sees it); at
-- syncer.views.ABSENT_PASSES the schema-change log says the field is absent, once.
ALTER TABLE syncer.stream_columns ADD COLUMN absent_passes integer NOT NULL DEFAULT 0;

-- The field paths a full pass in progress has seen so far, committed with the pages that
-- showed them (a resumed pass keeps them); a pass's rows go with it. Only a path new to the
-- pass is written, so a pass of records of one shape writes a page's worth of rows once.
CREATE TABLE syncer.pass_fields (
    pass_id bigint NOT NULL REFERENCES syncer.passes ON DELETE CASCADE,
    path    text[] NOT NULL,
    PRIMARY KEY (pass_id, path)
);

-- Passes begun before this migration noted no fields: their end says nothing of absence.
ALTER TABLE syncer.passes ADD COLUMN fields_tracked boolean NOT NULL DEFAULT false;
ALTER TABLE syncer.passes ALTER COLUMN fields_tracked SET DEFAULT true;
