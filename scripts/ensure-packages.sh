#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages named as arguments that are not installed yet; runs
# apt-get update only then, so a machine that has them all goes straight on. Used by setup.sh
# (what facegate needs to build and run) and test.sh (what its tests need besides).
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "$(basename "${0}"): installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
