#!/usr/bin/env bash
# The clean check with the null correction at 2x and 4x the CPU training budget, on one GPU,
# several processes sharing the device. Defaults: the loop gas, 5 seeds at 4000 steps and
# 2 seeds at 8000 steps (7 processes; 254 s on an H200). The Ising part of out/null_gpu_8000
# came from a second call on the same machine (286 s):
#   MODELS=ising WORKERS=3 LIMIT=380 RUNS="8000:0 8000:1" bash analysis/ising_markov/gpu_clean_null.sh
# Each process stops after LIMIT seconds, so that the finished points come back. They are
# collected into $OUT/points_<steps>.jsonl and $OUT/log.txt. Rebuild the tables with
#   mkdir -p analysis/ising_markov/out/null_gpu_<steps> && cp points_<steps>.jsonl \
#     analysis/ising_markov/out/null_gpu_<steps>/points.jsonl &&
#   python analysis/ising_markov/run.py --replot --out analysis/ising_markov/out/null_gpu_<steps>
# Run from the repository root: bash analysis/ising_markov/gpu_clean_null.sh
set -u
OUT=${OUT:-/tmp/gpu_clean_null}
DEVICE=${DEVICE:-cuda}
LIMIT=${LIMIT:-545}
RUNS=${RUNS:-"4000:0 4000:1 4000:2 4000:3 4000:4 8000:0 8000:1"}
WORK=${WORK:-/tmp/gpu_clean_null_work}
PY=${PY:-python3}
MODELS=${MODELS:-loopgas}
WORKERS=${WORKERS:-1}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
for run in $RUNS; do
  steps=${run%%:*} seed=${run##*:}
  timeout "$LIMIT" "$PY" analysis/ising_markov/run.py --device "$DEVICE" --sections clean \
    --clean-models "$MODELS" --workers "$WORKERS" --null-correction --steps "$steps" \
    --seed "$seed" --mc-threads 2 \
    --out "$WORK/s${steps}_$seed" --cache "$WORK/cache_$seed" > "$WORK/log_${steps}_$seed.txt" 2>&1 &
done
wait
for steps in $(for run in $RUNS; do echo "${run%%:*}"; done | sort -u); do
  cat "$WORK"/s"${steps}"_*/points.jsonl > "$OUT/points_$steps.jsonl" 2>/dev/null
done
for f in "$WORK"/log_*.txt; do echo "== $f"; tail -n 5 "$f"; done > "$OUT/log.txt"
nvidia-smi --query-gpu=name --format=csv,noheader >> "$OUT/log.txt" 2>/dev/null
cat "$OUT/log.txt"
