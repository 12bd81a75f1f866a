#!/usr/bin/env bash
# The native sources as a Windows compiler sees them, checked on Linux (part of `npm run lint`):
# Debian's MinGW-w64 cross compiler (g++-mingw-w64-x86-64-posix, installed by setup.sh) parses
# every native/ file for x86_64 Windows against FAISS's headers, node-addon-api's and Node-API's
# (node-api-headers, the headers cmake-js builds with), so a POSIX-only call or header
# (sys/mman.h, sysconf, ...) fails here rather than on a site's Windows PC. A second pass defines
# _MSC_VER, as MSVC (vcpkg's build, README "Windows") does, so our own `#if defined(_MSC_VER)`
# branches (cpu.cc's CPUID, intrinsics) are parsed too, through MinGW's MSVC-compatible intrin.h.
# That pass skips files that include FAISS: FAISS's MSVC branch redefines GCC builtins, which
# only MSVC accepts. Syntax only: nothing is linked (no Windows FAISS here).
set -euo pipefail
cd "$(dirname "$0")/.."

cxx=x86_64-w64-mingw32-g++-posix
if ! command -v "$cxx" >/dev/null; then
  echo "check-native-windows: $cxx not found; run scripts/setup.sh (it installs g++-mingw-w64-x86-64-posix)" >&2
  exit 1
fi
faiss=$(dirname "$(dirname "$(find /usr/include -maxdepth 2 -name IndexFlat.h -path '*faiss*' | head -n 1)")")
if [ ! -f "$faiss/faiss/IndexFlat.h" ]; then
  echo "check-native-windows: FAISS's headers not found under /usr/include; run scripts/setup.sh (libfaiss-dev)" >&2
  exit 1
fi
# Only FAISS from /usr/include: the rest of it is Linux's C library, which a Windows build never sees.
only_faiss=$(mktemp -d)
trap 'rm -rf "$only_faiss"' EXIT
ln -s "$faiss/faiss" "$only_faiss/faiss"

# The same definitions, standard and warnings as CMakeLists.txt's GCC build.
flags=(-std=c++17 -Wall -Wextra -fopenmp -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
  -I"$(node -p "require('node-addon-api').include_dir")" -I"$(node -p "require('node-api-headers').include_dir")" -Inative -isystem "$only_faiss")

failed=0
while IFS= read -r file; do
  # As CMakeLists.txt: only the kernel files get the wide instruction sets.
  arch=()
  case "$file" in
    */kernels_avx2.cc) arch=(-mavx2 -mfma -mf16c) ;;
    */kernels_avx512.cc) arch=(-mavx512f) ;;
  esac
  if ! "$cxx" -fsyntax-only "${flags[@]}" "${arch[@]}" "$file"; then
    echo "check-native-windows: $file does not compile for Windows (MinGW-w64)" >&2
    failed=1
    continue
  fi
  headers=$("$cxx" "${flags[@]}" "${arch[@]}" -M "$file")
  if [[ "$headers" != */faiss/* ]]; then
    if ! "$cxx" -fsyntax-only "${flags[@]}" "${arch[@]}" -D_MSC_VER=1930 "$file"; then
      echo "check-native-windows: $file does not compile with _MSC_VER defined (its MSVC branches)" >&2
      failed=1
    fi
  fi
done < <(find native -name '*.cc' | sort)
exit "$failed"
