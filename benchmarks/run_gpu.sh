#!/usr/bin/env bash
# The prepared GPU benchmark: one short script for a lent CUDA machine (see the device tool's
# README). Writes Markdown tables under ${OUT:-runs/bench}; each step is bounded so the whole run
# fits in about 8 minutes on one modern GPU. Run from the repository root after `make setup`.
set -euo pipefail
out="${OUT:-runs/bench}"
mkdir -p "$out"
py=.venv/bin/python
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
# 1. PGD speed vs the physical limit, fp32 and bf16, harness vs torchattacks vs ART.
timeout 240 $py benchmarks/attack_speed.py --detectors cnn,meso4,xception,efficientnet_b4 \
    --batch 32 --steps 20 --device cuda --precision fp32,bf16 --repeats 3 --out "$out/attack_speed.md" || true
# 2. Memory and time against the number of videos, and 1 vs 2 torchrun ranks (one GPU: both ranks
#    share it, which measures the sharding overhead, not a speed-up).
timeout 300 $py benchmarks/scale.py --sizes 200,2000,20000 --device cuda --ranks 1,2 \
    --workers 4 --batch-size 64 --out "$out/scale.md" || true
ls -l "$out"
