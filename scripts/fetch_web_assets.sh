#!/usr/bin/env bash
# Install the browser client's front-end packages from npm (set-up time only) and copy the
# files the page serves into src/callport/web/vendor/ (git-ignored). Nothing is fetched at run time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
assets="$root/web-assets"
vendor="$root/src/callport/web/vendor"

if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_web_assets: npm not found; install it (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
cd "$assets"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --ignore-scripts
else
  npm install --no-audit --no-fund --ignore-scripts
fi

vad="$assets/node_modules/@ricky0123/vad-web/dist"
ort="$assets/node_modules/onnxruntime-web/dist"
rm -rf "$vendor"
mkdir -p "$vendor/vad" "$vendor/ort"
cp "$vad/bundle.min.js" "$vad/vad.worklet.bundle.min.js" "$vad/silero_vad_v5.onnx" "$vendor/vad/"
cp "$ort/ort-wasm-simd-threaded.mjs" "$ort/ort-wasm-simd-threaded.wasm" "$vendor/ort/"
cp "$assets/node_modules/@ricky0123/vad-web/LICENSE.md" "$vendor/vad/LICENSE.md" 2>/dev/null || true
cp "$assets/node_modules/onnxruntime-web/LICENSE" "$vendor/ort/LICENSE" 2>/dev/null || true
echo "web assets copied to $vendor"
