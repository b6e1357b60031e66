#!/usr/bin/env bash
# One call that checks jaxseg on a GPU machine (about 6-8 minutes on one H100) and writes
# benchmarks/results/<device>/ (commit that folder, naming the device):
#   1. the GPU tests (tests/test_gpu.py, marked gpu): a tiny train equals the CPU's, bf16 finite, memory_stats;
#   2. nnunet_3d 2x128^3 and pig_ct_2d 4x512^2 train steps in bf16, jaxseg against PyTorch (torch.compile)
#      in one process: samples/s, TFLOP/s, MFU (torch_compare.py, needs the bench extra);
#   3. pig_ct_2d's 8 GiB plan, confirmed by `jaxseg plan` in a subprocess whose memory pool is capped
#      to the budget (XLA_PYTHON_CLIENT_MEM_FRACTION);
#   4. the input pipeline at 512^2 slices and 96^3 blocks against the train step (data_pipeline.py,
#      the logic of `jaxseg bench data`).
# Needs `pip install -e '.[cuda12,bench,test]'` and a CUDA build of torch. A step that fails or runs
# over its time limit is reported and the others still run; the exit status is the number of failures.
#
#   bash benchmarks/gpu_check.sh [--dry-run]     # --dry-run: print the commands, run nothing
set -uo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DRY_RUN=0
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN=1
[[ $# -gt 0 && $DRY_RUN -eq 0 ]] && { echo "usage: bash benchmarks/gpu_check.sh [--dry-run]" >&2; exit 2; }

if [[ $DRY_RUN -eq 0 ]]; then
  backend=$("$PYTHON" -c "import jax; print(jax.default_backend())") || exit 1
  if [[ "$backend" != "gpu" ]]; then
    echo "gpu_check.sh: jax's default backend is '$backend', not gpu (install with pip install -e '.[cuda12]')" >&2
    exit 1
  fi
  device=$("$PYTHON" -c "from jaxseg.perf.peaks import device_name; print(device_name())")
else
  device='<device>'
fi
results="benchmarks/results/$device"
failures=0

step() {  # step SECONDS COMMAND...: run COMMAND under a time limit, tee its output to the log.
  local limit=$1; shift
  echo "+ timeout $limit $*"
  [[ $DRY_RUN -eq 1 ]] && return
  mkdir -p "$results"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$results/gpu_check.log"
  local status=${PIPESTATUS[0]}
  echo "gpu_check: exit $status after $((SECONDS - start)) s: $*" | tee -a "$results/gpu_check.log"
  [[ $status -ne 0 ]] && failures=$((failures + 1))
}

step 90 "$PYTHON" -m pytest -q -m gpu -rs tests/test_gpu.py
step 240 "$PYTHON" benchmarks/torch_compare.py --cases nnunet_3d,pig_ct_2d --precisions bfloat16 --modes train \
  --torch-compile on --rounds 3 --steps 5 --name torch_compare_gpu_check
step 60 bash -c "'$PYTHON' -m jaxseg plan --config configs/pig_ct_unet2d.py --budget 8GiB --shape 512,512 \
  --steps 3 --json > '$results/plan_pig_ct_2d_8GiB.json'"
step 80 "$PYTHON" benchmarks/data_pipeline.py --cases 2 --workers 8 --batches 10 --steps 5 \
  --out "$results/data_pipeline.json"
[[ $DRY_RUN -eq 0 ]] && echo "gpu_check: $failures failed step(s); results in $results/"
exit $failures
