#!/usr/bin/env bash
# The fused sparse attention on a GPU machine, every kernel version in one call:
#   ../shared/tools/gpu-pack -p model -p benches      # here, then carry .gpu
#   bash benches/scripts/sparse-attention-on-gpu.sh [OUT_DIR] [VERSIONS]   # there
# For each version (default 1 to 29; e.g. "31 34" to check a new version beside the default):
# the correctness tests against the reference path (up to 300 s: 24 cases and the model test), then
# the benchmark (JSON per version; ST_SA_VERSION picks the version); then PyTorch's SDPA and FlexAttention on the same shapes.
set -uo pipefail
out=${1:-${OUT:-.}}
versions=${2:-"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29"}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== the wgmma operand layouts of versions 14+ (Hopper only)"
timeout 120 .gpu/run-tests wgmma 2>&1 | grep -E "relative|test |panicked|FAILED" | head -12
for v in $versions; do
  echo "== version $v: correctness"
  ST_SA_VERSION=$v timeout 300 .gpu/run-tests fused 2>&1 | grep -E "out |worst|loss:|test |panicked|FAILED" | head -30
  echo "== version $v: speed"
  ST_SA_VERSION=$v timeout 120 .gpu/bin/gpu-sparse-attention --json "$out/sparse-attention-v$v.json" 2>&1 | tail -9
done
echo "== PyTorch"
timeout 240 python3 benches/reference/sparse_attention.py --json "$out/sparse-attention-torch.json" 2>&1 | tail -7
