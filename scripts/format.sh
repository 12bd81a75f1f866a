#!/usr/bin/env bash
# The house formats (issue 14): Prettier for the TypeScript and JavaScript (.prettierrc.json, width
# 120), Debian's clang-format for native/ (.clang-format: Google's style at width 120). With
# --check (what `npm run lint` runs) it changes nothing and fails, naming the files, when one is
# not formatted; without it, it formats them in place (`npm run format`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang-format >/dev/null; then
  echo "format: clang-format not found; run scripts/setup.sh (it installs the Debian package clang-format)" >&2
  exit 1
fi
code=('{core,storage,src,scripts,test}/**/*.{ts,mts,js,mjs}' '*.{ts,js,mjs}')
mapfile -t native < <(find native -name '*.cc' -o -name '*.h' | sort)

if [ "${1:-}" = "--check" ]; then
  npx prettier --check --log-level warn "${code[@]}"
  clang-format --dry-run --Werror "${native[@]}"
else
  npx prettier --write --log-level warn "${code[@]}"
  clang-format -i "${native[@]}"
fi
