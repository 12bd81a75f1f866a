-- facegate schema 7: the change feed (issue 18: many appliances, one PostgreSQL). Every write that
-- changes a user or adds or removes face embeddings appends its change here in its own transaction,
-- numbered by `seq`; each appliance applies the changes after its high-water mark (kept in its
-- embedding snapshot) to its index and user directory, so an enrolment at one appliance is
-- recognised at every other within seconds, and a deletion everywhere.
--
-- Why a counter row and not a bigserial: a sequence hands out numbers at INSERT time, so seq 8 can
-- commit (and be read) while seq 7's transaction is still open; a follower that has read 8 moves
-- its mark past 7 and never sees it. `UPDATE change_seq SET seq = seq + 1 RETURNING seq` takes the
-- counter row's lock until the transaction ends: numbers are gapless and commit in order, so a
-- reader that sees seq N has seen every seq below it. Writers of users and embeddings take turns
-- for the last moment of their transaction (the store takes the counter last), which is cheap next
-- to the embedding inserts. Rows written before this migration are the state at seq 0.

CREATE TABLE change_seq (
  id   integer PRIMARY KEY CHECK (id = 1),
  seq  bigint NOT NULL CHECK (seq >= 0)
);
INSERT INTO change_seq (id, seq) VALUES (1, 0);

CREATE TABLE changes (
  seq            bigint PRIMARY KEY CHECK (seq > 0),
  at             timestamptz NOT NULL DEFAULT now(),
  -- The appliance that made the change (storage/ids.ts's rule); null only for a writer without one.
  appliance_id   text NULL CHECK (appliance_id ~ '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$'),
  kind           text NOT NULL CHECK (kind IN ('embeddings-added', 'embeddings-removed', 'user-changed')),
  user_id        text NOT NULL,
  embedding_ids  bigint[] NOT NULL DEFAULT '{}',
  -- The embeddings' model (one change per model); null for user-changed.
  model_id       text NULL
);

-- Append-only like the events (migration 001's function): a follower's mark means "everything up
-- to here", which holds only if nothing below it is rewritten. The counter row may only count up (a writer of several changes takes them in one step).
CREATE TRIGGER changes_no_change BEFORE UPDATE OR DELETE ON changes
  FOR EACH ROW EXECUTE FUNCTION facegate_append_only();
CREATE TRIGGER changes_no_truncate BEFORE TRUNCATE ON changes
  FOR EACH STATEMENT EXECUTE FUNCTION facegate_append_only();

CREATE FUNCTION facegate_change_seq_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.seq <= OLD.seq OR NEW.id <> OLD.id THEN
    RAISE EXCEPTION 'change_seq only counts up: % is not allowed', TG_OP
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER change_seq_forward BEFORE UPDATE OR DELETE ON change_seq
  FOR EACH ROW EXECUTE FUNCTION facegate_change_seq_forward();
CREATE TRIGGER change_seq_no_truncate BEFORE TRUNCATE ON change_seq
  FOR EACH STATEMENT EXECUTE FUNCTION facegate_append_only();
