-- The job queue's schema (procrastinate, issue 11): a schema of its own, so its tables and
-- functions never mix with the mirror's. Its objects are created right after this file, in the
-- same transaction, from the schema.sql of the installed procrastinate (syncer/jobs_schema.py):
-- their text belongs to procrastinate, and its version is recorded in syncer.jobs_schema.
CREATE SCHEMA IF NOT EXISTS syncer_jobs;

CREATE TABLE syncer.jobs_schema (
    -- one row: the procrastinate version whose schema.sql was applied, and when
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version     text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
