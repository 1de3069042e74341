#!/usr/bin/env bash
# The prepared GPU check: on a machine with CUDA, in under 10 minutes,
#   1. the CUDA tests of the suite (the SOMRL layer against its loop reference on cuda),
#   2. benchmarks/bench_core.py on cuda (step ratio, update speed-up, MNIST samples/s),
#   3. a short MNIST LHS with --devices auto --workers-per-device 4 (trials per minute,
#      GPU memory per worker, sampled with nvidia-smi while it runs),
# and prints every figure. CI never runs it.
#
#   bash benchmarks/gpu_check.sh            (DATA=folder holding MNIST/raw/*.gz; default ../shared/data)
#
# Output: the figures on stdout; the study and its logs under ${OUT:-/tmp}/gpu-check.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp}
DATA=${DATA:-../shared/data}
PY=.venv/bin/python
STUDY=.venv/bin/dcsomrl-study

[ -x "$PY" ] || python3 -c "import run; run.ensure_venv()" || exit 1
command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi here: not a CUDA machine"; exit 1; }
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device')" || exit 1
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader

# A writable copy of the data (the loader extracts the .gz files beside them).
mkdir -p "$OUT/gpu-data"
cp -rn "$DATA"/MNIST "$OUT/gpu-data/" 2>/dev/null || { echo "gpu_check: no MNIST under $DATA"; exit 1; }

echo "== 1. CUDA tests"
timeout 120 "$PY" -m pytest -q -p no:cacheprovider tests -k cuda 2>&1 | tail -n 3

echo "== 2. bench_core.py --device cuda"
timeout 240 "$PY" benchmarks/bench_core.py --device cuda --data-dir "$OUT/gpu-data" 2>&1 | grep -E "^(device|\(a\)|\(b\)|\(c\))"

echo "== 3. MNIST LHS, 16 trials of 2 epochs, --devices auto --workers-per-device 4"
rm -rf "$OUT/gpu-check"
( while sleep 5; do nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits; done ) \
    > "$OUT/gpu-memory.csv" 2>/dev/null &
SAMPLER=$!
start=$(date +%s)
timeout 240 "$STUDY" lhs --n 16 --dataset mnist --epochs 2 --devices auto --workers-per-device 4 \
    --study gpu-check --results "$OUT/gpu-check" --data-dir "$OUT/gpu-data" > "$OUT/gpu-lhs.log" 2>&1
rc=$?
end=$(date +%s)
kill "$SAMPLER" 2>/dev/null
tail -n 2 "$OUT/gpu-lhs.log"
"$STUDY" export --study gpu-check --results "$OUT/gpu-check" --out "$OUT/gpu-check.csv" >/dev/null 2>&1
"$PY" - "$OUT/gpu-check.csv" "$OUT/gpu-memory.csv" "$start" "$end" "$rc" <<'EOF'
import sys
import pandas as pd
table, memory, start, end, rc = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
t = pd.read_csv(table)
done = t[t["state"] == "COMPLETE"]
minutes = (end - start) / 60
print(f"lhs exit {rc}: {len(done)}/{len(t)} trials COMPLETE in {minutes:.1f} min: "
      f"{len(done) / minutes:.1f} trials per minute; per trial {done['seconds'].median():.1f} s (median); "
      f"best NMI {done['nmi'].max():.3f}")
try:
    mem = pd.read_csv(memory, header=None, names=["pid", "mib"])
    per_worker = mem.groupby("pid")["mib"].max()
    print(f"GPU memory per worker (peak of each process): median {per_worker.median():.0f} MiB, "
          f"max {per_worker.max():.0f} MiB over {len(per_worker)} processes")
except (pd.errors.EmptyDataError, FileNotFoundError):
    print("GPU memory per worker: nvidia-smi reported no compute process")
EOF
