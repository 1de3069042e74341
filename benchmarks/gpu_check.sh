#!/usr/bin/env bash
# The GPU check, made for a bare CUDA machine without network (a cluster GPU node).
#
#   bash benchmarks/gpu_check.sh --data DIR [--wheels DIR] [--python PY] [--out DIR]
#
#   --data DIR     folder holding MNIST/raw/*.gz (the four files of torchvision's layout)
#   --wheels DIR   local wheel folder for what PY cannot import yet (benchmarks/gpu_check_requirements.txt),
#                  installed with pip --no-index into OUT/site; not needed when PY has it all
#   --python PY    the interpreter (default: $PYTHON, else python3): the machine's own, with its
#                  PyTorch (>= 2.11); nothing is downloaded and torch is never installed
#   --out DIR      scratch folder (default /tmp/gpu-check)
#
# Filling the wheel folder, on any machine with network, for the target's platform and Python
# (here CPython 3.12 on x86-64 Linux; see `python3 -c "import sys; print(sys.version)"` there):
#
#   pip download --dest wheels --only-binary=:all: --implementation cp --python-version 3.12 \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       -r benchmarks/gpu_check_requirements.txt
#
# Stages, each with its exit status printed, all within 8 minutes (each stage's timeout is cut
# to what is left of that):
#   1. python     interpreter, torch version (>= 2.11), CUDA devices
#   2. deps       imports numpy, scipy, sklearn, pytest; installs the missing ones from --wheels
#   3. data       the MNIST files
#   4. cuda tests tests/dcsomrl/test_step_cuda.py (50 steps under sync debug mode "error",
#                 same-seed bits, tie cases, CUDA graph replay) and the layer's CUDA reference test
#   5. sync test  tests/dcsomrl/test_step_sync.py: host syncs and ops per step, before and after,
#                 counted by dispatch on the CPU
#   6. figures    benchmarks/step_throughput.py: ms/step (AE alone, DC-SOMRL), projected paper
#                 trial, steps/s with 1 and 4 workers, peak memory per worker
# Without CUDA (torch.cuda.is_available() false) stage 4 is skipped, and says so, and stage 6
# runs shortened on the CPU (its figures are then the CPU's). Exit status: 0 when no stage failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
REPO=$(pwd)
PY=${PYTHON:-python3}
DATA=""
WHEELS=""
OUT=/tmp/gpu-check
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --data) DATA=${2:-}; shift 2 ;;
        --wheels) WHEELS=${2:-}; shift 2 ;;
        --python) PY=${2:-}; shift 2 ;;
        --out) OUT=${2:-}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check: unknown argument '$1' (see --help)"; exit 2 ;;
    esac
done
[ -n "$DATA" ] || { echo "gpu_check: --data DIR is required (a folder holding MNIST/raw/*.gz)"; exit 2; }
[ -z "$WHEELS" ] || [ -d "$WHEELS" ] || { echo "gpu_check: --wheels $WHEELS is not a folder"; exit 2; }
command -v "$PY" >/dev/null 2>&1 || { echo "gpu_check: no interpreter '$PY' (give --python or PYTHON)"; exit 2; }
mkdir -p "$OUT" || { echo "gpu_check: cannot create --out $OUT"; exit 2; }
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-470}  # 8 minutes less a margin for start-up and the summary
SUMMARY=()
FAILED=0

left() { echo $((START + BUDGET - $(date +%s))); }

# stage NAME TIMEOUT_S CMD...: run CMD with the smaller of TIMEOUT_S and the time left; print and record its status
stage() {
    local name=$1 limit=$2 rc t0
    shift 2
    local remaining
    remaining=$(left)
    [ "$remaining" -lt "$limit" ] && limit=$remaining
    echo
    echo "== $name (timeout ${limit} s)"
    if [ "$limit" -le 5 ]; then
        echo "-- $name: not run, the 8-minute budget is spent"
        SUMMARY+=("$name: NOT RUN (no time left)"); FAILED=1; return 1
    fi
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@"
    rc=$?
    local took=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ]; then
        SUMMARY+=("$name: ok (exit status 0, ${took} s)")
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        SUMMARY+=("$name: TIMED OUT after ${limit} s (exit status $rc)"); FAILED=1
    else
        SUMMARY+=("$name: FAILED (exit status $rc, ${took} s)"); FAILED=1
    fi
    echo "-- $name: exit status $rc (${took} s)"
    return $rc
}

skip() {
    echo
    echo "== $1"
    echo "-- $1: SKIPPED: $2"
    SUMMARY+=("$1: skipped ($2)")
}

finish() {
    echo
    echo "== summary ($(( $(date +%s) - START )) s in all)"
    printf '   %s\n' "${SUMMARY[@]}"
    exit $FAILED
}

# 1. the interpreter and its torch
stage "1. python" 60 "$PY" - <<'PYEOF'
import sys
print(f"python {sys.version.split()[0]} at {sys.executable}")
if sys.version_info < (3, 11):
    sys.exit("gpu_check: the project needs Python >= 3.11")
try:
    import torch
except ImportError as e:
    sys.exit(f"gpu_check: this python has no torch ({e}); use the machine's python with PyTorch >= 2.11")
version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
print(f"torch {torch.__version__} (CUDA build {torch.version.cuda}), CUDA available: {torch.cuda.is_available()}")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  cuda:{i} {p.name}, {p.total_memory / 2**30:.0f} GiB")
if version < (2, 11):
    sys.exit(f"gpu_check: torch {torch.__version__} is older than 2.11")
PYEOF
[ $? -eq 0 ] || finish
CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)

# 2. the other dependencies: importable already, else from the wheel folder
deps() {
    local missing
    missing=$("$PY" -c "
import importlib.util
print(' '.join(m for m in ('numpy', 'scipy', 'sklearn', 'pytest') if importlib.util.find_spec(m) is None))")
    if [ -z "$missing" ]; then
        echo "numpy, scipy, sklearn and pytest are importable with $PY: nothing to install"
        return 0
    fi
    echo "missing: $missing"
    if [ -z "$WHEELS" ]; then
        echo "gpu_check: give --wheels DIR holding wheels of benchmarks/gpu_check_requirements.txt (see --help)"
        return 1
    fi
    "$PY" -m pip --version >/dev/null 2>&1 || { echo "gpu_check: $PY has no pip to install wheels with"; return 1; }
    "$PY" -m pip install --no-index --find-links "$WHEELS" --target "$OUT/site" --upgrade \
        -r benchmarks/gpu_check_requirements.txt || return 1
    PYTHONPATH="$OUT/site:$PYTHONPATH" "$PY" -c "import numpy, scipy, sklearn, pytest; print('installed into $OUT/site')"
}
export PY WHEELS OUT DATA
export -f deps
stage "2. deps" 120 bash -c deps
[ -d "$OUT/site" ] && export PYTHONPATH="$OUT/site:$PYTHONPATH"

# 3. the data
data() {
    local f ok=0
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        if [ -f "$DATA/MNIST/raw/$f.gz" ]; then echo "found $DATA/MNIST/raw/$f.gz"; else echo "missing $DATA/MNIST/raw/$f.gz"; ok=1; fi
    done
    return $ok
}
export -f data
stage "3. data" 10 bash -c data || finish

# 4. the CUDA tests
if [ "$CUDA" = "1" ]; then
    stage "4. cuda tests" 150 "$PY" -m pytest -q -rfEs -p no:cacheprovider \
        tests/dcsomrl/test_step_cuda.py tests/dcsomrl/test_somrl_reference.py -k "cuda or gpu"
else
    skip "4. cuda tests" "no CUDA device here (torch.cuda.is_available() is False)"
fi

# 5. host syncs and ops per step (dispatch count, on the CPU)
stage "5. sync test" 120 "$PY" -m pytest -q -s -p no:cacheprovider tests/dcsomrl/test_step_sync.py

# 6. the figures
if [ "$CUDA" = "1" ]; then
    stage "6. figures" 200 "$PY" benchmarks/step_throughput.py --device cuda --data "$DATA" \
        --steps 300 --warmup 30 --workers 1 4
else
    echo
    echo "(no CUDA: stage 6 runs shortened on the CPU; its figures are the CPU's, not a GPU's)"
    stage "6. figures (CPU, shortened)" 200 "$PY" benchmarks/step_throughput.py --device cpu --data "$DATA" \
        --steps 5 --warmup 2 --workers 1
fi
finish
