#!/usr/bin/env bash
# Upscale every image of a folder (recursively) into another folder, keep going past bad files,
# and keep a log of failures.
# Usage: examples/batch_folder.sh IN_DIR OUT_DIR [SCALE] [JOBS] [extra bbcu options, e.g. -m MODEL]
# JOBS (default 2) overlaps decoding/encoding with the model: worth it for many small images.
# Set BBCU to run another entry point, e.g. BBCU="python -m bbcu_cli".
set -uo pipefail
in_dir=${1:?usage: batch_folder.sh IN_DIR OUT_DIR [SCALE] [JOBS]}
out_dir=${2:?usage: batch_folder.sh IN_DIR OUT_DIR [SCALE] [JOBS]}
scale=${3:-4}
jobs=${4:-2}
shift $(( $# < 4 ? $# : 4 ))
read -r -a bbcu <<< "${BBCU:-bbcu}"
log="$out_dir/failures.log"
mkdir -p "$out_dir"
# --skip-existing makes the script resumable: rerun it after an interruption (Ctrl-C exits 130
# after printing what was done; nothing half-written is ever left behind).
"${bbcu[@]}" upscale "$in_dir" -r -s "$scale" -o "$out_dir" --skip-existing --jobs "$jobs" --json "$@" > "$out_dir/summary.json"
status=$?
# No JSON means the run itself failed (bad option, no model...): the error is already on stderr.
[ -s "$out_dir/summary.json" ] || exit $status
python3 - "$out_dir/summary.json" "$log" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
failed = [i for i in data["items"] if i["status"] == "failed"]
with open(sys.argv[2], "w") as fh:
    for item in failed:
        fh.write(f"{item['input']}\t{item['error']}\n")
s = data["summary"]
note = " (interrupted: rerun to finish)" if data.get("interrupted") else ""
print(f"{s['ok']} ok, {s['skipped']} skipped, {s['failed']} failed (see {sys.argv[2]}){note}")
PY
exit $status
