-- facegate schema 2: unknown faces kept for review. Each saved crop of an unknown track has a
-- row here linking it to its recognition event and keeping its embedding, so retention deletes
-- the file and its embedding in the same purge. Faces of the same stranger are grouped as they
-- arrive (src/unknown-faces/grouping.ts); a group is reviewed once: enrolled as a new user,
-- assigned to an existing one, or dismissed. Groups never touch the recognition index.

CREATE TABLE unknown_groups (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model_id    text NOT NULL,
  status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'enrolled', 'assigned', 'dismissed')),
  -- The user a group was enrolled as or assigned to. Not a foreign key: the group's history
  -- outlives a deleted user, like the events.
  user_id     text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  CHECK ((status IN ('enrolled', 'assigned')) = (user_id IS NOT NULL)),
  CHECK ((status = 'open') = (resolved_at IS NULL))
);
CREATE INDEX unknown_groups_status ON unknown_groups (status, id);

-- The event is a foreign key: a crop is kept only once its event is in the database.
CREATE TABLE unknown_faces (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  group_id    bigint NOT NULL REFERENCES unknown_groups (id),
  event_id    uuid NOT NULL UNIQUE REFERENCES recognition_events (id),
  camera_id   text NOT NULL,
  seen_at     timestamptz NOT NULL,
  -- The images/unknown/{day} folder the crop is in (UTC): retention purges by it.
  day         date NOT NULL,
  image       text NOT NULL UNIQUE,
  quality     real NOT NULL,
  model_id    text NOT NULL,
  dim         integer NOT NULL CHECK (dim > 0),
  vector      bytea NOT NULL CHECK (octet_length(vector) = dim * 4)
);
CREATE INDEX unknown_faces_group ON unknown_faces (group_id, quality DESC);
CREATE INDEX unknown_faces_day ON unknown_faces (day);
CREATE INDEX unknown_faces_seen ON unknown_faces (seen_at);

-- Who did what to which group, and when: append-only like the events (same trigger function).
-- group_id is not a foreign key: retention removes empty groups, the trail stays.
CREATE TABLE review_actions (
  id           uuid PRIMARY KEY,
  "timestamp"  timestamptz NOT NULL,
  actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
  action       text NOT NULL CHECK (action IN ('enroll', 'assign', 'dismiss')),
  group_id     bigint NOT NULL,
  user_id      text,
  details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX review_actions_group ON review_actions (group_id, "timestamp");
CREATE INDEX review_actions_time ON review_actions ("timestamp");

CREATE TRIGGER review_actions_no_change BEFORE UPDATE OR DELETE ON review_actions
  FOR EACH ROW EXECUTE FUNCTION facegate_append_only();
CREATE TRIGGER review_actions_no_truncate BEFORE TRUNCATE ON review_actions
  FOR EACH STATEMENT EXECUTE FUNCTION facegate_append_only();
