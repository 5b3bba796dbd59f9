#!/usr/bin/env bash
# One prepared device call for issue 3 (see README.md, "GPU attempt"):
#  - GPU: run.py --plan gpu (16x "full"'s training samples, hidden 64, vertex parities, clipping,
#    a GroupNorm U-Net),
#    evaluation and generation on the GPU; the exact references are skipped there and added
#    afterwards on any CPU by `run.py --plan gpu --resume --models-dir M --trained-on cuda`;
#  - optionally (GAP_TIMEOUT > 0) the machine's other CPU cores: exact_gap.py --plan GAP_PLAN,
#    stopped after GAP_TIMEOUT s; it resumes from its .npz wherever it is run again. Off by
#    default: the large plan is done (out/exact_gap_large.*).
# Budget: at the 19-28 ms per step of the first H100 call, --plan gpu needs 12-14 min of
# training in one process, more than one 10-min call. Read the probe's output first (it runs
# first, ~1-2 min) and fix the step time, or train fewer steps (STEPS=...).
# Run from the repository root: OUT=/path bash analysis/loopgas_denoisers/gpu_run.sh
# CPU smoke test: PLAN=quick DEVICE=cpu GAP_PLAN=quick PROBE_STEPS=2 \
#   bash analysis/loopgas_denoisers/gpu_run.sh
set -euo pipefail
OUT=${OUT:-/tmp/gpu_loopgas_denoisers}
PLAN=${PLAN:-gpu}
DEVICE=${DEVICE:-cuda}
GAP_PLAN=${GAP_PLAN:-large}
THREADS=${THREADS:-13}
GAP_TIMEOUT=${GAP_TIMEOUT:-0}
STEPS=${STEPS:-}
TRAIN_PARALLEL=${TRAIN_PARALLEL:-0}
steps=()
[ -n "$STEPS" ] && steps=(--steps "$STEPS")
PY=${PY:-python3}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$OUT/study" "$OUT/models" "$OUT/gap" "$OUT/probe"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true; nproc; } \
  > "$OUT/study/machine.txt" 2>&1
# First, where a training step's time goes (~1-2 min; PROBE_STEPS=0 skips it): the first H100
# call measured 19-28 ms per step, see README.md
PROBE_STEPS=${PROBE_STEPS:-100}
if [ "$PROBE_STEPS" -gt 0 ]; then
  timeout 180 "$PY" analysis/loopgas_denoisers/gpu_probe.py --device "$DEVICE" \
    --steps "$PROBE_STEPS" --out "$OUT/probe" 2>&1 | tee "$OUT/probe/run.log" || true
fi
GAP=
if [ "$GAP_TIMEOUT" -gt 0 ]; then
  timeout "$GAP_TIMEOUT" "$PY" analysis/loopgas_denoisers/exact_gap.py --plan "$GAP_PLAN" \
    --threads "$THREADS" --out "$OUT/gap" > "$OUT/gap/run.log" 2>&1 &
  GAP=$!
fi
# Training, each model written as soon as it is trained. TRAIN_PARALLEL=1: one process per
# model (same seeds as one sequential run); in the first device session seven processes did not
# finish sooner than one (README.md), so one process is the default.
models=(r=1 r=2 r=3 r=4 r=5 r=6 global)
if [ "$TRAIN_PARALLEL" = 1 ]; then
  pids=()
  for m in "${models[@]}"; do
    OMP_NUM_THREADS=1 "$PY" analysis/loopgas_denoisers/run.py --plan "$PLAN" --device "$DEVICE" \
      "${steps[@]}" --train-only "$m" --models-dir "$OUT/models" --out "$OUT/study" \
      > "$OUT/study/train_${m//=/}.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
else
  all=$(IFS=,; echo "${models[*]}")
  OMP_NUM_THREADS=2 "$PY" analysis/loopgas_denoisers/run.py --plan "$PLAN" --device "$DEVICE" \
    "${steps[@]}" --train-only "$all" --models-dir "$OUT/models" --out "$OUT/study" \
    > "$OUT/study/train_all.log" 2>&1
fi
grep -h trained "$OUT"/study/train_*.log
# one plain file for the weights (their file names, "r=1.pt", are not for every transfer tool)
tar -C "$OUT" -cf "$OUT/models.tar" models
OMP_NUM_THREADS=2 "$PY" analysis/loopgas_denoisers/run.py --plan "$PLAN" --device "$DEVICE" \
  "${steps[@]}" --no-exact --models-dir "$OUT/models" --out "$OUT/study" 2>&1 \
  | tee "$OUT/study/run.log"
rm -rf "$OUT/models"
if [ -n "$GAP" ]; then
  status=0
  wait "$GAP" || status=$?
  echo "exact_gap.py exit status $status (124: stopped at GAP_TIMEOUT; it resumes from its .npz)"
  tail -n 14 "$OUT/gap/run.log"
fi
