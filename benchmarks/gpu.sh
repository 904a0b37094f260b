#!/bin/bash
# The GPU figures in one short call, for a machine lent for minutes. Each part has its own
# time limit, so one slow compile cannot take the others' time:
#
#   step       the 1080p frame step: seconds per frame, FLOP/s          (run.py)
#   precision  float32 / TF32 / bfloat16 at 1080p                       (precision.py)
#   golden     the port's golden tests and gradient rules, on the GPU   (pytest)
#   memory     a 3840x2160 frame's device memory, tiled and untiled     (memory.py)
#   tiled      the same, tiled only
#   untiled    the same, untiled only
#   sweep      1, 2 and 4 variants of a 1080p render as one batch       (devices.py --measure)
#   still      the command line, cold, to one dreamed 1080p picture     (python -m zoomdream)
#   film       a film's frames beside a zoom's at 1080p: time, memory  (memory.py --film)
#
#     bash benchmarks/gpu.sh [PART ...]        (default: all of them)
#
# Results: benchmarks/results/*-gpu.json, and all of them with the log in $OUT (if set).
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
    cp results/*-gpu.json "$OUT"/ 2>/dev/null  # each part's figures come back even if a later one is cut off
}
still() {  # the whole process, as a user runs it, with an empty compilation cache
    local cache folder TIMEFORMAT="still: %R s wall"
    cache=$(mktemp -d) folder=$(mktemp -d)
    time ZOOMDREAM_CACHE_DIR="$cache" python3 -m zoomdream --preset classic-zoom --size 1920x1080 \
        -o "$folder/still.png" --quiet
}
golden() {  # the port against the float64 golden values, its pool and convolution gradients
    (cd .. && JAX_PLATFORMS=cuda JAX_DEFAULT_MATMUL_PRECISION=highest python3 -m pytest -q -p no:cacheprovider \
        tests/test_googlenet.py -k "golden or max_pool or (backward and not xla)")
}
export -f still golden  # timeout runs programs, so the two functions run in a bash of their own
parts=${*:-step precision memory sweep still}
{
    nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader
    python3 -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
    for name in $parts; do
        case $name in
            step) part 150 "frame step 1080p" python3 run.py --only 1080p-4oct ;;
            precision) part 170 "precision 1080p" python3 precision.py --size 1920x1080 --frames 3 ;;
            golden) part 100 "golden tests on the GPU" bash -c golden ;;
            memory) part 170 "memory 2160p" python3 memory.py --size 3840x2160 --tiles 1024 0 ;;
            tiled) part 130 "memory 2160p tiled" python3 memory.py --size 3840x2160 --tiles 1024 ;;
            untiled) part 170 "memory 2160p untiled" python3 memory.py --size 3840x2160 --tiles 0 ;;
            sweep) part 200 "sweeps 1080p" python3 devices.py --measure --size 1920x1080 --variants 1 2 4 ;;
            still) part 100 "command line to a 1080p still, cold" bash -c still ;;
            film) part 300 "film and zoom frames 1080p" python3 memory.py --film --size 1920x1080 --tiles 1024 ;;
            *) echo "unknown part $name" ;;
        esac
    done
    echo "=== done in $(( $(date +%s) - began )) s"
} 2>&1 | grep --line-buffered -v "cuda_timer.cc" | tee "$OUT/gpu-log.txt"
cp results/*-gpu.json "$OUT"/ 2>/dev/null
true
