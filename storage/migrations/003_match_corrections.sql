-- facegate schema 3: match corrections ("not this person", issue 13). Each row is a face that must
-- not be taken for a user: an operator marked a decision wrong ('operator'), or an enrolment found
-- the new person close to an enrolled one ('lookalike', a row for each of the two). The user's
-- own match threshold is raised above every such score (src/recognition/user-thresholds.ts),
-- never below the site's. Append-only like the events: a correction is evidence, kept for audit.

CREATE TABLE match_corrections (
  id           uuid PRIMARY KEY,
  -- The database's clock, like users.created_at: a correction counts for the user enrolled under
  -- this id at that time, not for a later user who reuses the id (compared on one clock).
  "timestamp"  timestamptz NOT NULL DEFAULT now(),
  actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
  -- The user wrongly named, or to be told apart from. Not a foreign key: the history outlives users.
  user_id      text NOT NULL,
  source       text NOT NULL CHECK (source IN ('operator', 'lookalike')),
  -- The recognition event marked wrong (operator corrections by event); events are never deleted.
  event_id     uuid REFERENCES recognition_events (id),
  -- The face's score against that user when recorded, and the model that scored it.
  score        real NOT NULL,
  model_id     text NOT NULL CHECK (length(model_id) BETWEEN 1 AND 200),
  -- The face's embedding where one was available (little-endian float32, like face_embeddings).
  dim          integer CHECK (dim > 0),
  vector       bytea,
  details      jsonb NOT NULL DEFAULT '{}'::jsonb,
  CHECK ((dim IS NULL) = (vector IS NULL)),
  CHECK (vector IS NULL OR octet_length(vector) = dim * 4)
);
CREATE INDEX match_corrections_user ON match_corrections (user_id, model_id, "timestamp");
CREATE INDEX match_corrections_model ON match_corrections (model_id);
-- An event is marked wrong once for its user: concurrent marks of one event (a double click, a
-- retried request) must not each add a row, and only the database can see them all at once
-- (the store maps this index's unique violation to the conflict a second mark gets).
CREATE UNIQUE INDEX match_corrections_event ON match_corrections (event_id, user_id) WHERE event_id IS NOT NULL;

CREATE TRIGGER match_corrections_no_change BEFORE UPDATE OR DELETE ON match_corrections
  FOR EACH ROW EXECUTE FUNCTION facegate_append_only();
CREATE TRIGGER match_corrections_no_truncate BEFORE TRUNCATE ON match_corrections
  FOR EACH STATEMENT EXECUTE FUNCTION facegate_append_only();
