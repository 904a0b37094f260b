#!/bin/bash
# The GPU figures in one short call, for a machine lent for minutes: the 1080p frame step
# (seconds per frame, FLOP/s), float32 / TF32 / bfloat16, and a 3840x2160 frame's memory.
# Each part has its own time limit, so one slow compile cannot take the others' time.
# Results: benchmarks/results/*-gpu.json, and all of them with the log in $OUT (if set).
#
#     bash benchmarks/gpu.sh
#
# Python packages the machine lacks can be put in .gpu/site (it is put on PYTHONPATH).
set -u
cd "$(dirname "$0")"
export PYTHONPATH="$PWD/..:$PWD/../.gpu/site" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/zoomdream-gpu}
mkdir -p "$OUT"
began=$(date +%s)
part() {  # part SECONDS NAME COMMAND...
    local limit=$1 name=$2
    shift 2
    echo "=== $name (limit ${limit}s, $(( $(date +%s) - began )) s in)"
    timeout "$limit" "$@" || echo "=== $name ended with status $?"
}
{
    nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader
    python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
    part 150 "frame step 1080p" python3 run.py --only 1080p-4oct
    part 170 "precision 1080p" python3 precision.py --size 1920x1080 --frames 3
    part 110 "memory 2160p" python3 memory.py --size 3840x2160 --tiles 1024 0
    echo "=== done in $(( $(date +%s) - began )) s"
} 2>&1 | tee "$OUT/gpu-log.txt"
cp results/*-gpu.json "$OUT"/ 2>/dev/null
for f in results/*-gpu.json; do echo "--- $f"; cat "$f"; done
