#!/usr/bin/env bash
# A first try on a fresh Debian/Ubuntu machine: sets facegate up (scripts/setup.sh), enrolls the
# sample person, and runs the appliance on its embedded defaults (PGlite in var/storage, health in
# memory, the models fetched and verified) with a demo camera that plays sample photos through
# ffmpeg. Within a minute the log shows "recognition" lines: the enrolled person known, the
# stranger unknown. Ctrl+C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

photos=$(realpath "${FACEGATE_DEMO_PHOTOS:-../shared/faces}")
demo=var/demo
mkdir -p "$demo"
# An ffmpeg concat list: each photo for 4 s, as 20 frames of 0.2 s (a steady 5 fps, no bursts).
list="$(realpath "$demo")/slideshow.txt"
: > "$list"
for photo in obama/obama3.jpg biden/biden.jpg mixed/two_people.jpg; do
  for _ in $(seq 20); do printf "file '%s'\nduration 0.2\n" "$photos/$photo" >> "$list"; done
done
cat > "$demo/facegate.yaml" <<YAML
# The demo's configuration (see README.md, "Running the appliance").
dataDir: ../storage
cameras:
  - { id: demo, url: "slideshow:$list", fps: 5, width: 1280, height: 720 }
YAML
export FACEGATE_CONFIG="$demo/facegate.yaml"

# Enrolled from four photos; the camera shows a fifth that enrollment never saw.
if ! node dist/src/cli/main.js users show demo_obama >/dev/null 2>&1; then
  node dist/src/cli/main.js enroll demo_obama --name "Barack Obama (sample)" \
    "$photos/obama/obama.jpg" "$photos/obama/obama2.jpg" "$photos/obama/obama-480p.jpg" "$photos/obama/obama_small.jpg"
fi
echo "first-run: starting the appliance; watch for \"recognised demo_obama\" and \"unknown face\" (Ctrl+C to stop)"
exec node dist/src/cli/main.js serve
