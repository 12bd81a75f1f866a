-- facegate schema 6: appliance ids (issue 18: many appliances, one PostgreSQL). Each event, camera
-- event and review action records the appliance that wrote it, and each unknown-face group the
-- appliance whose camera saw it (grouping stays per appliance; its crops stay on that appliance's
-- disk). The store stamps the id itself on every write (storage/db/sql-db-store.ts), so no caller
-- can forget it. NULL for every row written before this migration: those rows came from a single
-- appliance that had no id yet, and the append-only tables cannot (and should not) be rewritten to
-- guess one. New nullable columns only, like migration 005: nothing already there is rewritten,
-- and the append-only triggers of migrations 001 and 002 cover the new columns as they cover the old.

-- The id rule of storage/ids.ts (as users.id in migration 001): letters, digits, '_', '-', '.' not first.
ALTER TABLE recognition_events
  ADD COLUMN appliance_id text NULL CHECK (appliance_id ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$');
ALTER TABLE camera_events
  ADD COLUMN appliance_id text NULL CHECK (appliance_id ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$');
ALTER TABLE review_actions
  ADD COLUMN appliance_id text NULL CHECK (appliance_id ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$');
ALTER TABLE unknown_groups
  ADD COLUMN appliance_id text NULL CHECK (appliance_id ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$');

-- `events list --appliance X` and GET /events?appliance=X read newest first (ids sort by time).
CREATE INDEX recognition_events_appliance ON recognition_events (appliance_id, id);
CREATE INDEX camera_events_appliance ON camera_events (appliance_id, id);
-- An appliance's grouping index reads its own open groups.
CREATE INDEX unknown_groups_appliance ON unknown_groups (appliance_id, status);
