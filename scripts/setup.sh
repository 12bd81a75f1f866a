#!/usr/bin/env bash
# Sets facegate up on Debian or Ubuntu: the system packages the native addon builds against,
# the npm dependencies, then the addon and the TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# FAISS (static, with its OpenBLAS and OpenMP), and the toolchain cmake-js drives.
scripts/ensure-packages.sh libfaiss-dev libopenblas-dev cmake g++ make \
  ffmpeg \
  g++-mingw-w64-x86-64-posix clang-format
# ffmpeg: camera ingest at run time (5 or later). The MinGW-w64 cross compiler: `npm run lint`
# parses native/ for Windows with it (scripts/check-native-windows.sh); the posix thread model,
# because the win32 one of GCC 12 has no std::thread, which native/parallel.cc uses.
# clang-format: `npm run lint` checks native/'s format with it (scripts/format.sh).

# onnxruntime-node's install script downloads CUDA binaries and fails offline; CPU inference
# works from the package itself (TOOLING.md).
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund
npm run build

# The ONNX models, verified by sha256 (models/manifest.json): from FACEGATE_MODELS_DIR or the
# development copy beside the project when there is one, else from each model's source.
from=()
if [ -z "${FACEGATE_MODELS_DIR:-}" ] && [ -d ../shared/models ]; then from=(--from ../shared/models); fi
node dist/scripts/fetch-models.js --dest var/models "${from[@]}" ||
  echo "setup: some models could not be fetched (see above); vision commands need them in var/models or FACEGATE_MODELS_DIR" >&2
echo "setup: done. Try: npx facegate analyze-faces <photo>, npx facegate bench search"
