#!/usr/bin/env bash
# The README's performance figures: runs `kbs bench --quick` on this machine into
# bench-out/ (JSON, Markdown, SVG chart), copies the chart to public/bench.svg and
# puts the table into README.md's "Performance" section. Extra arguments go to
# `kbs bench` (e.g. --only terminal,builds).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-out
node bin/kbs.mjs bench --quick --out bench-out/bench.json "$@"
cp bench-out/bench.svg public/bench.svg
node scripts/bench-readme.mjs bench-out/bench.md
