-- Rows a push derived from a desired-state table carry that table's name, so a new diff
-- replaces the rows an earlier one left unsent instead of adding to them.
ALTER TABLE syncer.outbox ADD COLUMN source text;
