-- Columns of an imported interactions file (or properties of a tracked event) that the schema has no column
-- for: kept here, so a new column needs no migration. Null when there are none, to keep the table narrow.
alter table interactions add column attributes jsonb;

-- The event tracker and re-imports look an event up by user, time, item and type before inserting it.
-- interactions_user_time_idx (user_id, occurred_at) already narrows that to a handful of rows.
