#!/usr/bin/env bash
# Refresh tokenrace/dashboard/vendor/ from the npm registry at the pinned versions below.
#
# The page loads only these built browser files (no CDN, works offline, `pip install` needs no Node.js).
# To upgrade: change a version here, run `bash scripts/vendor-dashboard.sh`, run `python -m pytest tests/e2e`,
# and commit the changed vendor/ folder together with this script.
set -euo pipefail

MARKED=18.2.1       # markdown -> HTML                      MIT
DOMPURIFY=3.4.18    # HTML sanitizer                         MPL-2.0 OR Apache-2.0
UPLOT=1.6.32        # time-series chart (canvas)             MIT

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/tokenrace/dashboard/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() {   # fetch NAME VERSION -> unpacks the registry tarball into $TMP/NAME
  local name=$1 version=$2
  (cd "$TMP" && npm pack --silent "$name@$version" >/dev/null)
  mkdir -p "$TMP/$name"
  tar xzf "$TMP/$name-$version.tgz" -C "$TMP/$name" --strip-components=1
}

fetch marked "$MARKED"
fetch dompurify "$DOMPURIFY"
fetch uplot "$UPLOT"

rm -rf "$DEST"
mkdir -p "$DEST"
# ES modules, renamed to .js so every static server sends a JavaScript MIME type; source-map
# comments are dropped (the maps are not shipped, and a browser would ask for them).
strip_map() { sed -e '/^\/\/# sourceMappingURL=/d' "$1" > "$2"; }
strip_map "$TMP/marked/lib/marked.esm.js"        "$DEST/marked.esm.js"
strip_map "$TMP/dompurify/dist/purify.es.mjs"    "$DEST/purify.es.js"
strip_map "$TMP/uplot/dist/uPlot.esm.js"         "$DEST/uPlot.esm.js"
cp "$TMP/uplot/dist/uPlot.min.css"               "$DEST/uPlot.min.css"
cp "$TMP/marked/LICENSE"                         "$DEST/LICENSE.marked"
cp "$TMP/dompurify/LICENSE"                      "$DEST/LICENSE.dompurify"
if [ -f "$TMP/dompurify/LICENSE-MPL" ]; then cp "$TMP/dompurify/LICENSE-MPL" "$DEST/LICENSE-MPL.dompurify"; fi
cp "$TMP/uplot/LICENSE"                          "$DEST/LICENSE.uplot"

{
  echo "# Vendored browser libraries of the tokenrace dashboard; refreshed by scripts/vendor-dashboard.sh."
  echo "# package    version   licence                 files"
  echo "marked       $MARKED    MIT                     marked.esm.js (lib/marked.esm.js), LICENSE.marked"
  echo "dompurify    $DOMPURIFY    MPL-2.0 OR Apache-2.0   purify.es.js (dist/purify.es.mjs), LICENSE.dompurify, LICENSE-MPL.dompurify"
  echo "uplot        $UPLOT    MIT                     uPlot.esm.js, uPlot.min.css (dist/), LICENSE.uplot"
  echo
  echo "# sha256"
  (cd "$DEST" && sha256sum marked.esm.js purify.es.js uPlot.esm.js uPlot.min.css)
} > "$DEST/VERSIONS.txt"

echo "vendored into $DEST:"
ls -l "$DEST"
