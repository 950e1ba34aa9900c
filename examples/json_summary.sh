#!/usr/bin/env bash
# Read one or more `bbcu upscale|denoise|deblock --json` outputs (e.g. one per --shard) with jq:
# totals, every failure (input TAB error), mean PSNR/SSIM over the items that have them.
#
# Usage: examples/json_summary.sh summary.json [more.json ...]
#        bbcu denoise in/ -o out/ --json | examples/json_summary.sh
# Exit status: 0 when nothing failed, 1 when some item failed, 2 on bad input.
set -euo pipefail
command -v jq > /dev/null || { echo "json_summary.sh needs jq (apt-get install jq)" >&2; exit 2; }
if [ $# -eq 0 ]; then  # read stdin once, into a file both jq calls can read
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  cat > "$tmp"
  set -- "$tmp"
fi

report='
  [.[].items[]] as $items
  | [$items[] | select(.status == "failed")] as $failed
  | [$items[] | .psnr | select(. != null)] as $psnr
  | [$items[] | .ssim | select(. != null)] as $ssim
  | "\([$items[] | select(.status == "ok")] | length) ok, \([$items[] | select(.status == "skipped")] | length) skipped, \($failed | length) failed",
    (if any(.[]; .interrupted == true) then "interrupted: rerun with --skip-existing to finish" else empty end),
    ($failed[] | "failed\t\(.input)\t\(.error)"),
    (if ($psnr | length) > 0
       then "mean PSNR \($psnr | add / length | . * 10000 | round / 10000) dB, mean SSIM \($ssim | add / length | . * 10000 | round / 10000) over \($psnr | length) images"
       else "no PSNR/SSIM (pass --ref to measure against references)" end)
'
jq -r -s "$report" "$@"
jq -e -s '[.[].items[] | select(.status == "failed")] | length == 0' "$@" > /dev/null || exit 1
