-- facegate schema 5: access verdicts (issue 17). Each recognition event keeps what the access rules
-- (src/access/rules.ts) decided for it: granted, denied (with why) or unknown, and the reason as
-- shown to people. Both NULL for an event recorded without access control (every event before this
-- migration, and sites that configure no rules). New nullable columns only: the rows already there
-- are not rewritten, and the append-only triggers of migration 001 (row UPDATE/DELETE, statement
-- TRUNCATE) cover the table's new columns as they cover the old.

ALTER TABLE recognition_events
  ADD COLUMN access_verdict text NULL CHECK (access_verdict IN ('granted', 'denied', 'unknown')),
  ADD COLUMN access_reason  text NULL CHECK (access_reason IS NULL OR length(access_reason) BETWEEN 1 AND 500),
  -- A verdict always comes with its reason, and a reason never without a verdict.
  ADD CONSTRAINT recognition_events_access_both CHECK ((access_verdict IS NULL) = (access_reason IS NULL));
