#!/usr/bin/env bash
# Start P jaxseg processes on this machine, each with D CPU devices, as one multi-process job.
#   launch/local_multiprocess.sh P [D] -- jaxseg train --config configs/demo.py --workdir runs/mp
# Process i gets --coordinator localhost:PORT --num-processes P --process-id i; collectives use gloo.
# Each process logs to logs/process_<i>.log; process 0's output also goes to the console.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 NUM_PROCESSES [DEVICES_PER_PROCESS] -- COMMAND..." >&2
  exit 2
fi
processes=$1; shift
devices=1
if [ "$1" != "--" ]; then devices=$1; shift; fi
[ "$1" = "--" ] || { echo "expected -- before the command" >&2; exit 2; }
shift
port=${JAXSEG_COORDINATOR_PORT:-$((20000 + RANDOM % 20000))}
export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=${devices}"
export JAX_PLATFORMS=cpu
mkdir -p logs
pids=()
for ((i = 0; i < processes; i++)); do
  if [ "$i" -eq 0 ]; then
    "$@" --coordinator "localhost:${port}" --num-processes "$processes" --process-id "$i" 2>&1 | tee logs/process_0.log &
  else
    "$@" --coordinator "localhost:${port}" --num-processes "$processes" --process-id "$i" > "logs/process_${i}.log" 2>&1 &
  fi
  pids+=($!)
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit "$status"
