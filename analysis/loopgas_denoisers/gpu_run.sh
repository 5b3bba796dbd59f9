#!/usr/bin/env bash
# One prepared device call for issue 3 (see README.md, "GPU attempt"):
#  - GPU: run.py --plan gpu (16x "full"'s training samples, hidden 64, vertex parities, clipping),
#    evaluation and generation on the GPU; the exact references are skipped there and added
#    afterwards on any CPU by `run.py --plan gpu --resume --models-dir M --trained-on cuda`;
#  - the machine's other CPU cores: exact_gap.py --plan large (L = 32, r <= 10), stopped after
#    GAP_TIMEOUT s; it resumes from its .npz wherever it is run again.
# Run from the repository root: OUT=/path bash analysis/loopgas_denoisers/gpu_run.sh
# CPU smoke test: PLAN=quick DEVICE=cpu GAP_PLAN=quick PROBE_STEPS=2 \
#   bash analysis/loopgas_denoisers/gpu_run.sh
set -euo pipefail
OUT=${OUT:-/tmp/gpu_loopgas_denoisers}
PLAN=${PLAN:-gpu}
DEVICE=${DEVICE:-cuda}
GAP_PLAN=${GAP_PLAN:-large}
THREADS=${THREADS:-13}
GAP_TIMEOUT=${GAP_TIMEOUT:-420}
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
[ "$GAP_TIMEOUT" -gt 0 ] && timeout "$GAP_TIMEOUT" "$PY" analysis/loopgas_denoisers/exact_gap.py --plan "$GAP_PLAN" \
  --threads "$THREADS" --out "$OUT/gap" > "$OUT/gap/run.log" 2>&1 &
GAP=$!
# Training: one process per model (the first H100 call measured 20-28 ms per step for one
# process, bound by Python on the CPU, not by the GPU), same seeds as one sequential run.
pids=()
for m in r=1 r=2 r=3 r=4 r=5 r=6 global; do
  OMP_NUM_THREADS=1 "$PY" analysis/loopgas_denoisers/run.py --plan "$PLAN" --device "$DEVICE" \
    --train-only "$m" --models-dir "$OUT/models" --out "$OUT/study" > "$OUT/study/train_${m//=/}.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
grep -h trained "$OUT"/study/train_*.log
# one plain file for the weights (their file names, "r=1.pt", are not for every transfer tool)
tar -C "$OUT" -cf "$OUT/models.tar" models
OMP_NUM_THREADS=2 "$PY" analysis/loopgas_denoisers/run.py --plan "$PLAN" --device "$DEVICE" \
  --no-exact --models-dir "$OUT/models" --out "$OUT/study" 2>&1 | tee "$OUT/study/run.log"
rm -rf "$OUT/models"
status=0
wait "$GAP" || status=$?
echo "exact_gap.py exit status $status (124: stopped at GAP_TIMEOUT; it resumes from its .npz)"
tail -n 14 "$OUT/gap/run.log" 2>/dev/null || true
