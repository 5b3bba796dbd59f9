#!/usr/bin/env bash
# One prepared device call for issue 6: the loop-gas profiler study on a larger torus, the
# networks trained on the GPU, the syndrome CMI on all CPU cores of the device machine.
# Defaults: L = 20, r_max = 7, seed 3 (new data), the rule and settings of the L = 16 run in
# README.md ("Loop gas at L = 16 with the global tail"), gradient clipping from the start;
# TAIL=local reproduces the window-only schedule. Not yet run. Profile ~2 min on 16 threads
# (estimate); training: on the H100 the loop-gas denoisers took 19-28 ms per step in one
# process (analysis/loopgas_denoisers/README.md, "GPU attempt"), so 5 networks (as at L = 16)
# x 4000 steps need ~8-9 min, more than fits beside the profile in one 10-min call. Run
# analysis/loopgas_denoisers/gpu_probe.py first, or lower STEPS.
# Run from the repository root: OUT=/path bash analysis/profiler/gpu_loopgas.sh
# Bring back $OUT/profiler_L${L}/ (JSON, PNG, run.log) and commit it under analysis/profiler/out/.
set -euo pipefail
OUT=${OUT:-/tmp/gpu_loopgas}
L=${L:-20}
RMAX=${RMAX:-7}
SEED=${SEED:-3}
STEPS=${STEPS:-4000}
THREADS=${THREADS:-16}
DEVICE=${DEVICE:-cuda}
TAIL=${TAIL:-global}
PY=${PY:-python3}
DIR="$OUT/profiler_L${L}"
mkdir -p "$DIR"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
"$PY" analysis/profiler/run.py --only loopgas --L "$L" --r-max "$RMAX" --seed "$SEED" \
  --train-steps "$STEPS" --global-features vertex_parity --local-features vertex_parity \
  --rule absolute:0.001 --step-check 256x240 --no-sweep --grad-clip 1 --tail "$TAIL" --device "$DEVICE" \
  --threads "$THREADS" --out "$DIR" 2>&1 | tee "$DIR/run.log"
rm -f "$DIR/loopgas.h5"  # 6000 samples; regenerated from the seed
