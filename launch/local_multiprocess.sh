#!/usr/bin/env bash
# Start P jaxseg processes on this machine, each with D CPU devices, as one multi-process job.
# Without D, a --xla_force_host_platform_device_count already in XLA_FLAGS is kept; else D is 1.
#   launch/local_multiprocess.sh P [D] -- jaxseg train --config configs/demo.py --workdir runs/mp
# Process i gets --coordinator localhost:PORT --num-processes P --process-id i; collectives use gloo.
# Each process logs to $JAXSEG_LOG_DIR/process_<i>.log (default: WORKDIR/logs, WORKDIR being the
# command's --workdir; ./logs without one) and writes its pid to process_<i>.pid there; process 0's
# output also goes to the console.
# Each process sizes XLA's CPU thread pools (PJRT_NPROC, unless set) as one process holding all P x D
# devices would: XLA:CPU partitions and threads each device's work by that size, so the job then runs
# every device's program exactly as 1 process x P*D devices does (with exact cross-device sums:
# bitwise the same parameters).
# If one process fails or is killed, the others are killed too (they would wait for it in a collective
# forever) and the script exits with the first failure's status; relaunching resumes from the last
# complete checkpoint, as under SLURM.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 NUM_PROCESSES [DEVICES_PER_PROCESS] -- COMMAND..." >&2
  exit 2
fi
processes=$1; shift
devices=""
if [ "$1" != "--" ]; then devices=$1; shift; fi
[ "$1" = "--" ] || { echo "expected -- before the command" >&2; exit 2; }
shift
port=${JAXSEG_COORDINATOR_PORT:-$((20000 + RANDOM % 20000))}
workdir=""
previous=""
for arg in "$@"; do
  case "$arg" in
    --workdir=*) workdir=${arg#--workdir=} ;;
    *) [ "$previous" = "--workdir" ] && workdir=$arg ;;
  esac
  previous=$arg
done
logs=${JAXSEG_LOG_DIR:-${workdir:+$workdir/}logs}
if [ -n "$devices" ] || [[ "${XLA_FLAGS:-}" != *--xla_force_host_platform_device_count=* ]]; then
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=${devices:-1}"
fi
export JAX_PLATFORMS=cpu
per_process=$(sed -n 's/.*--xla_force_host_platform_device_count=\([0-9]*\).*/\1/p' <<< "$XLA_FLAGS")
export PJRT_NPROC=${PJRT_NPROC:-$(( $(nproc) > processes * per_process ? $(nproc) : processes * per_process ))}
mkdir -p "$logs"
pids=()
for ((i = 0; i < processes; i++)); do
  if [ "$i" -eq 0 ]; then
    "$@" --coordinator "localhost:${port}" --num-processes "$processes" --process-id "$i" \
      > >(tee "$logs/process_0.log") 2>&1 &
  else
    "$@" --coordinator "localhost:${port}" --num-processes "$processes" --process-id "$i" \
      > "$logs/process_${i}.log" 2>&1 &
  fi
  pids+=($!)
  echo $! > "$logs/process_${i}.pid"
done
# SIGTERM/SIGINT go to every process, which saves a checkpoint and exits; that is not a failure.
stopping=0
trap 'stopping=1; kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT
status=0
running=("${pids[@]}")
while [ "${#running[@]}" -gt 0 ]; do
  code=0
  finished=""
  wait -n -p finished "${running[@]}" || code=$?
  [ -n "$finished" ] || continue  # interrupted by a trapped signal: nobody exited yet
  still=()
  for pid in "${running[@]}"; do [ "$pid" = "$finished" ] || still+=("$pid"); done
  running=("${still[@]}")
  if [ "$code" -ne 0 ] && [ "$status" -eq 0 ]; then
    status=$code
    if [ "$stopping" -eq 0 ]; then
      echo "$0: process $finished exited with status $code; stopping the others" >&2
      kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
  fi
done
exit "$status"
