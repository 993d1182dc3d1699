#!/usr/bin/env bash
# The benchmark of docs/performance.md: kiln against ONNX Runtime on
# ResNet-18/50, MobileNetV2, two GPT-style transformers and two GEMMs, at 1
# and 2 threads, in one markdown table on stdout (progress on stderr).
#
# Installs onnxruntime-node (the version bench/package.json pins) into
# bench/node_modules on first use, with --ignore-scripts: the package's
# install script only fetches GPU binaries; the CPU library is in the
# package itself.  Then runs bench/bench.py with every argument given here.
#
# Usage: bench/run.sh [--build DIR] [--models LIST] [--threads LIST]
#                     [--runs N] [--quick] [...]     (bench/bench.py --help)
# Needs a built kiln (meson setup build && ninja -C build), node and npm,
# cc, and /usr/bin/python3 with torch, torchvision, onnx and numpy.
set -euo pipefail
bench=$(cd "$(dirname "$0")" && pwd)
want=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dependencies"]["onnxruntime-node"])' \
  "$bench/package.json")
have=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
  "$bench/node_modules/onnxruntime-node/package.json" 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "bench/run.sh: installing onnxruntime-node $want into bench/node_modules" >&2
  (cd "$bench" && npm install --ignore-scripts --no-audit --no-fund --no-save >&2)
fi
exec /usr/bin/python3 "$bench/bench.py" "$@"
