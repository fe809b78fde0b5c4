#!/bin/bash
# Old build against the current one, alternated in one session (the machine's speed drifts by
# 30% from day to day, so only side-by-side runs compare): the WordNet recipe for 2 epochs on 2
# threads, 3 runs each, then BENCH_QUICK=1 bench:throughput, 2 runs each. Figures land in
# bench/results/before-after.json.  Usage: bench/before-after.sh <old commit> (default 8140367)
set -euo pipefail
old=${1:-8140367}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add -f "$work/old" "$old" >/dev/null
(cd "$work/old" && npm ci --silent >/dev/null && npm run build --silent >/dev/null)
(cd "$root" && npm run build --silent >/dev/null && node dist/src/cli/main.js data wordnet --out "$work/wn" >/dev/null)
dirOf() { if [ "$1" = old ]; then echo "$work/old"; else echo "$root"; fi; }
for i in 1 2 3; do
  for b in old new; do
    (cd "$(dirOf $b)" && node dist/src/cli/main.js demo --data-dir "$work/wn" --epochs 2 --threads 2 --quiet \
      --metrics-out "$work/demo-$b-$i.json" >/dev/null)
    echo "demo $b $i done"
  done
done
for i in 1 2; do
  for b in old new; do
    (cd "$(dirOf $b)" && BENCH_QUICK=1 BENCH_ACCURACY_SECONDS=0 BENCH_OUT="$work/tp-$b-$i" npm run --silent bench:throughput >/dev/null)
    echo "throughput $b $i done"
  done
done
(cd "$root" && node --import tsx bench/before-after-summary.ts "$work" "$old") > "$root/bench/results/before-after.json.tmp"
mv "$root/bench/results/before-after.json.tmp" "$root/bench/results/before-after.json"
echo "written to bench/results/before-after.json"
