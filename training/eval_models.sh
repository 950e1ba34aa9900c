#!/usr/bin/env bash
# Measure shipped models with `bbcu eval` (protocol of ../shared/datasets/README.md); JSON per run
# in training/eval/. Usage: training/eval_models.sh sr2|sr3|sr4|robust2|robust3|robust4|denoise|deblock[=MODEL] ...
# (MODEL defaults to bbcu-m-x2 / bbcu-m-x4 / bbcu-denoise / bbcu-deblock; baselines run once per set)
# robustS=MODEL: Set5, Set14, B100 under every eval degradation (bbcu eval --degradation all),
# one JSON per set: training/eval/MODEL-robust-xS-SET.json ({"results": [...]}).
# srS and robustS measure the model alone (--no-route); routedS=MODEL measures a default with its
# clean variant as `bbcu upscale --route` runs it (bbcu_cli/routing.py): training/eval/routed-MODEL-robust-xS-SET.json.
# ENSEMBLE=1 adds --ensemble (x8 self-ensemble) to the model runs, tagged MODEL+.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=../shared/datasets/bench
out=training/eval
mkdir -p "$out"
ens=(); plus=""
[ "${ENSEMBLE:-0}" = 1 ] && ens=(--ensemble) && plus="+"
ev() { local tag=$1; shift; bbcu eval "$@" --threads "${THREADS:-1}" --json -q > "$out/$tag.json"; python3 -c "import json,sys; d=json.load(open('$out/$tag.json')); print('$tag', round(d['psnr'],2), round(d['ssim'],4))"; }
evall() { local tag=$1; shift; bbcu eval "$@" --degradation all --threads "${THREADS:-1}" --json -q > "$out/$tag.json"; python3 -c "import json; d=json.load(open('$out/$tag.json')); print('$tag', ' '.join(f\"{r['degradation']} {r['psnr']:.2f}\" for r in d['results']))"; }
baseall() { [ -s "$out/$1.json" ] || evall "$@"; }
base() { [ -s "$out/$1.json" ] || ev "$@"; }
for arg in "$@"; do
  what=${arg%%=*}; model=${arg#*=}
  case $what in
    sr2|sr3|sr4) [ "$model" = "$arg" ] && model=bbcu-m-x${what#sr} ;;
    robust2|robust3|robust4|routed2|routed3|routed4) [ "$model" = "$arg" ] && { echo "$what needs =MODEL" >&2; exit 2; } ;;
    denoise|deblock) [ "$model" = "$arg" ] && model=bbcu-$what ;;
    *) echo "unknown: $arg" >&2; exit 2 ;;
  esac
  case $what in
    sr2|sr3|sr4) s=${what#sr}
      for set in Set5 Set14 B100; do
        base "bicubic-x$s-$set" "$bench/$set" --task sr -s "$s" -m bicubic
        ev "$model$plus-$set" "$bench/$set" --task sr -s "$s" -m "$model" --no-route "${ens[@]}"
      done ;;
    robust2|robust3|robust4) s=${what#robust}
      for set in Set5 Set14 B100; do
        baseall "bicubic-robust-x$s-$set" "$bench/$set" --task sr -s "$s" -m bicubic
        evall "$model$plus-robust-x$s-$set" "$bench/$set" --task sr -s "$s" -m "$model" --no-route "${ens[@]}"
      done ;;
    routed2|routed3|routed4) s=${what#routed}
      for set in Set5 Set14 B100; do
        evall "routed-$model$plus-robust-x$s-$set" "$bench/$set" --task sr -s "$s" -m "$model" --route "${ens[@]}"
      done ;;
    denoise)
      for sigma in 15 25 50; do
        base "noisy-s$sigma-CBSD68" "$bench/CBSD68" --task denoise --sigma "$sigma" -m identity
        ev "$model$plus-s$sigma-CBSD68" "$bench/CBSD68" --task denoise --sigma "$sigma" -m "$model" "${ens[@]}"
      done
      ev "$model$plus-blind-s25-CBSD68" "$bench/CBSD68" --task denoise --sigma 25 -m "$model" --blind "${ens[@]}" ;;
    deblock)
      for q in 10 20 30 40; do
        for set in BSD68 CBSD68; do
          base "jpeg-q$q-$set" "$bench/$set" --task deblock --quality "$q" -m identity
          ev "$model$plus-q$q-$set" "$bench/$set" --task deblock --quality "$q" -m "$model" "${ens[@]}"
        done
      done ;;
  esac
done
