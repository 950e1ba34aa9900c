#!/usr/bin/env bash
# Upscale every image of a folder (recursively) into another folder, keep going past bad files,
# and keep a log of failures.  Usage: examples/batch_folder.sh IN_DIR OUT_DIR [SCALE]
set -uo pipefail
in_dir=${1:?usage: batch_folder.sh IN_DIR OUT_DIR [SCALE]}
out_dir=${2:?usage: batch_folder.sh IN_DIR OUT_DIR [SCALE]}
scale=${3:-4}
log="$out_dir/failures.log"
mkdir -p "$out_dir"
# --skip-existing makes the script resumable: rerun it after an interruption.
bbcu upscale "$in_dir" -r -s "$scale" -o "$out_dir" --skip-existing --json > "$out_dir/summary.json"
status=$?
python3 - "$out_dir/summary.json" "$log" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
failed = [i for i in data["items"] if i["status"] == "failed"]
with open(sys.argv[2], "w") as fh:
    for item in failed:
        fh.write(f"{item['input']}\t{item['error']}\n")
s = data["summary"]
print(f"{s['ok']} ok, {s['skipped']} skipped, {s['failed']} failed (see {sys.argv[2]})")
PY
exit $status
