#!/usr/bin/env bash
# The README's test command: the whole suite against the real addon, models, PostgreSQL, Redis,
# ffmpeg and an RTSP server, on a machine set up by scripts/setup.sh (or first-run.sh). It installs
# what only the tests need, rebuilds what changed (the CLI tests run dist/), runs every test file,
# and fails when any test was skipped: a skip hides a missing part. Arguments go to vitest
# (scripts/test.sh test/api runs one folder).
set -euo pipefail
cd "$(dirname "$0")/.."

# The camera tests' real RTSP server (test/helpers/rtsp-server.py: GStreamer's RTSP server under
# Debian's python3, x264enc from plugins-ugly; TOOLING.md), systemd-analyze for the unit check,
# Mosquitto and openssl for the outputs' disposable brokers (TLS), and Chromium for the console's browser tests.
scripts/ensure-packages.sh python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
  gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly ffmpeg systemd mosquitto openssl chromium

if [ ! -d node_modules ]; then
  scripts/setup.sh
else
  npm run --silent build
fi

mkdir -p var
results=var/test-results.json
rm -f "$results"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# Only for the whole suite: a filter (-t, a folder) marks what it leaves out as skipped.
if [ -f "$results" ] && [ "$#" -eq 0 ]; then
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.testResults.flatMap((f) => f.assertionResults.filter((t) => t.status === "pending" || t.status === "skipped" || t.status === "todo").map((t) => `${f.name}: ${t.fullName}`));
    if (skipped.length > 0) {
      console.error(`test.sh: ${skipped.length} test(s) skipped; a skipped test hides a missing part:\n  ${skipped.join("\n  ")}`);
      process.exit(1);
    }
  ' "$results" || status=1
fi
exit "$status"
