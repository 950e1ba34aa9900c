#!/usr/bin/env bash
# Split one big folder over N parallel `bbcu` processes with --shard I/N, each resumable and
# each with its own JSON summary; then print the combined totals.
#
# Usage: examples/shards.sh IN_DIR OUT_DIR [N] [extra bbcu options...]
#   e.g. examples/shards.sh photos/ photos_x4/ 4 -s 4 -m bbcu-m-x4
# Set BBCU to run another entry point, e.g. BBCU="python -m bbcu_cli" examples/shards.sh ...
# Rerun the same command after a crash or Ctrl-C: --skip-existing resumes every shard.
# The same command with the same N on several machines sharing OUT_DIR also works if each
# machine runs only its own shard numbers (loop over a subset of I below).
set -uo pipefail
in_dir=${1:?usage: shards.sh IN_DIR OUT_DIR [N] [bbcu options...]}
out_dir=${2:?usage: shards.sh IN_DIR OUT_DIR [N] [bbcu options...]}
shards=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
read -r -a bbcu <<< "${BBCU:-bbcu}"
cores=$(nproc 2>/dev/null || echo 2)
threads=$(( cores / shards > 0 ? cores / shards : 1 ))   # no oversubscription
mkdir -p "$out_dir/.summaries"

pids=()
for i in $(seq 1 "$shards"); do
  "${bbcu[@]}" upscale "$in_dir" -r -o "$out_dir" --shard "$i/$shards" --skip-existing \
      --threads "$threads" --json "$@" \
      > "$out_dir/.summaries/shard-$i-of-$shards.json" 2> "$out_dir/.summaries/shard-$i-of-$shards.log" &
  pids+=($!)
done

status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"
  rc=$?
  echo "shard $((i + 1))/$shards: exit $rc" >&2
  (( rc > status )) && status=$rc   # 130 (interrupted) > 2 (usage) > 1 (some files failed)
done

here=$(dirname "$0")
"$here/json_summary.sh" "$out_dir"/.summaries/shard-*-of-"$shards".json || true
exit $status
