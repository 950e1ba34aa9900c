#!/usr/bin/env bash
# Measure shipped models with `bbcu eval` (protocol of ../shared/datasets/README.md); JSON per run
# in training/eval/. Usage: training/eval_models.sh sr2|sr4|denoise|deblock ...
set -euo pipefail
cd "$(dirname "$0")/.."
bench=../shared/datasets/bench
out=training/eval
mkdir -p "$out"
ev() { local tag=$1; shift; bbcu eval "$@" --threads "${THREADS:-1}" --json -q > "$out/$tag.json"; python3 -c "import json,sys; d=json.load(open('$out/$tag.json')); print('$tag', round(d['psnr'],2), round(d['ssim'],4))"; }
for what in "$@"; do
  case $what in
    sr2|sr4) s=${what#sr}
      for set in Set5 Set14 B100; do
        ev "bicubic-x$s-$set" "$bench/$set" --task sr -s "$s" -m bicubic
        ev "bbcu-m-x$s-$set" "$bench/$set" --task sr -s "$s" -m "bbcu-m-x$s"
      done ;;
    denoise)
      for sigma in 15 25 50; do
        ev "noisy-s$sigma-CBSD68" "$bench/CBSD68" --task denoise --sigma "$sigma" -m identity
        ev "bbcu-denoise-s$sigma-CBSD68" "$bench/CBSD68" --task denoise --sigma "$sigma" -m bbcu-denoise
      done
      ev "bbcu-denoise-blind-s25-CBSD68" "$bench/CBSD68" --task denoise --sigma 25 -m bbcu-denoise --blind ;;
    deblock)
      for q in 10 20 30 40; do
        for set in BSD68 CBSD68; do
          ev "jpeg-q$q-$set" "$bench/$set" --task deblock --quality "$q" -m identity
          ev "bbcu-deblock-q$q-$set" "$bench/$set" --task deblock --quality "$q" -m bbcu-deblock
        done
      done ;;
  esac
done
