-- facegate schema 4: site calibrations of the match threshold (issue 13, `facegate calibrate
-- --apply`). Each row is the threshold proposed from the site's impostor scores for one embedding
-- model at one gallery size and target, with the evidence it came from. The latest row for the
-- model in use is the site's match threshold unless the configuration sets recognition.match
-- (src/recognition/site-threshold.ts). Append-only: a new calibration is a new row, the history
-- of what the site ran with stays.

CREATE TABLE threshold_calibrations (
  id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at               timestamptz NOT NULL DEFAULT now(),
  model_id                 text NOT NULL CHECK (length(model_id) BETWEEN 1 AND 200),
  match_threshold          double precision NOT NULL CHECK (match_threshold > 0 AND match_threshold <= 1),
  -- Active enrolled users when calibrated: doctor and /health warn once the gallery outgrows it.
  gallery_size             integer NOT NULL CHECK (gallery_size >= 1),
  -- The highest acceptable probability that a stranger is named as someone.
  target                   double precision NOT NULL CHECK (target > 0 AND target < 1),
  impostor_gallery         integer NOT NULL CHECK (impostor_gallery >= 0),
  impostor_unknown         integer NOT NULL CHECK (impostor_unknown >= 0),
  impostor_labelled        integer NOT NULL CHECK (impostor_labelled >= 0),
  genuine_scores           integer NOT NULL CHECK (genuine_scores >= 0),
  tail_threshold           double precision NOT NULL,
  tail_exceedances         integer NOT NULL CHECK (tail_exceedances > 0),
  tail_shape               double precision NOT NULL,
  tail_scale               double precision NOT NULL CHECK (tail_scale > 0),
  expected_genuine_accept  double precision CHECK (expected_genuine_accept IS NULL OR expected_genuine_accept BETWEEN 0 AND 1),
  details                  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX threshold_calibrations_model ON threshold_calibrations (model_id, id);

CREATE TRIGGER threshold_calibrations_no_change BEFORE UPDATE OR DELETE ON threshold_calibrations
  FOR EACH ROW EXECUTE FUNCTION facegate_append_only();
CREATE TRIGGER threshold_calibrations_no_truncate BEFORE TRUNCATE ON threshold_calibrations
  FOR EACH STATEMENT EXECUTE FUNCTION facegate_append_only();
