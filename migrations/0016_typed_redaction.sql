-- Typed views complete, and the fields an analyst must not see (issue 14, part "typed").
--
-- A timestamp the vendor writes without an offset (Actito's `YYYY-MM-DD HH:MM:SS` moments,
-- XtraKit's Laravel stamps) is read in the vendor's time zone (the connection's `time_zone`
-- option, UTC by default), never in the session's: an analyst's TimeZone setting must not move
-- the instants. A value that does not parse is NULL, like syncer.try_timestamptz.
CREATE FUNCTION syncer.try_timestamptz_in(value text, zone text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN pg_catalog.timezone(zone, value::timestamp);
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- Each stream's `exclude` and `hash` lists as of its last run: a run that starts with other
-- lists records the difference in syncer.schema_changes (excluded, included, hashed, unhashed)
-- and brings the stored rows in line first.
CREATE TABLE syncer.stream_redaction (
    stream_id  bigint PRIMARY KEY REFERENCES syncer.streams,
    exclude    text[] NOT NULL DEFAULT '{}',
    hashed     text[] NOT NULL DEFAULT '{}',
    changed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
