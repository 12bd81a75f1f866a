-- facegate schema 1: the LLD's tables (users, roles, recognition_events, camera_events), the
-- user_roles link, and face_embeddings, the durable record of every embedding.

CREATE TABLE users (
  id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  department  text CHECK (department IS NULL OR length(department) <= 200),
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- NTFS folder names ignore case: U1 and u1 would share images/users/U1, so they cannot both exist.
CREATE UNIQUE INDEX users_id_case_insensitive ON users (lower(id));

CREATE TABLE roles (
  id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  role_name  text NOT NULL UNIQUE CHECK (length(role_name) BETWEEN 1 AND 100)
);

CREATE TABLE user_roles (
  user_id  text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role_id  integer NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, role_id)
);

-- The vector is stored as little-endian float32 bytes: exact, compact (2 KiB at 512-d), and
-- what the FAISS snapshot is rebuilt from.
CREATE TABLE face_embeddings (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  image       text NOT NULL,
  model_id    text NOT NULL,
  dim         integer NOT NULL CHECK (dim > 0),
  vector      bytea NOT NULL CHECK (octet_length(vector) = dim * 4),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX face_embeddings_model ON face_embeddings (model_id, id);
CREATE INDEX face_embeddings_user ON face_embeddings (user_id);

-- Events: ids are UUIDv7 made by the appliance, so a retried or replayed insert is a no-op.
-- matched_user_id is not a foreign key: the audit trail outlives a deleted user.
CREATE TABLE recognition_events (
  id               uuid PRIMARY KEY,
  "timestamp"      timestamptz NOT NULL,
  camera_id        text NOT NULL,
  matched_user_id  text,
  confidence       real NOT NULL,
  is_unknown       boolean NOT NULL,
  track_id         text,
  model_id         text,
  threshold        real,
  CHECK (is_unknown = (matched_user_id IS NULL))
);
CREATE INDEX recognition_events_time ON recognition_events ("timestamp");
CREATE INDEX recognition_events_camera_time ON recognition_events (camera_id, "timestamp");

CREATE TABLE camera_events (
  id           uuid PRIMARY KEY,
  camera_id    text NOT NULL,
  event_type   text NOT NULL,
  "timestamp"  timestamptz NOT NULL,
  details      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX camera_events_camera_time ON camera_events (camera_id, "timestamp");

-- Append-only, enforced by the database itself: UPDATE and DELETE (per row) and TRUNCATE (per
-- statement) raise, whoever connects.
CREATE FUNCTION facegate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER recognition_events_no_change BEFORE UPDATE OR DELETE ON recognition_events
  FOR EACH ROW EXECUTE FUNCTION facegate_append_only();
CREATE TRIGGER recognition_events_no_truncate BEFORE TRUNCATE ON recognition_events
  FOR EACH STATEMENT EXECUTE FUNCTION facegate_append_only();
CREATE TRIGGER camera_events_no_change BEFORE UPDATE OR DELETE ON camera_events
  FOR EACH ROW EXECUTE FUNCTION facegate_append_only();
CREATE TRIGGER camera_events_no_truncate BEFORE TRUNCATE ON camera_events
  FOR EACH STATEMENT EXECUTE FUNCTION facegate_append_only();
