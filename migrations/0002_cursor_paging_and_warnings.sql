-- Cursor-paged streams (Actito searchAfter, Ioto next) checkpoint the cursor of the next page;
-- runs keep warnings (a response without paging information, for example).
ALTER TABLE syncer.stream_state ADD COLUMN checkpoint_cursor jsonb;
ALTER TABLE syncer.runs ADD COLUMN warnings text[] NOT NULL DEFAULT '{}';
