-- The typed-view column of each field path, fixed when the path is first given one: a field
-- seen later never renames an existing column (stable across runs), and no two paths share
-- a column (injective, the UNIQUE below). column_name NULL: the path got no column because
-- the view's column budget was spent; its values stay in _data. column_type is the SQL type
-- the view gave the column last, so a change of type (a field's values changed kind) is
-- reported as a run warning.
CREATE TABLE syncer.stream_columns (
    stream_id   bigint NOT NULL REFERENCES syncer.streams,
    path        text[] NOT NULL,
    column_name text,
    column_type text,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, path),
    UNIQUE (stream_id, column_name)
);
