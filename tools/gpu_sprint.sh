#!/usr/bin/env bash
# GPU training sprint (issue 15): every learned model trained on a lent GPU machine in one command.
#
#   tools/gpu_sprint.sh prepare   # here: build the travelling face pack, set the shipped weights aside
#   tools/gpu_sprint.sh run       # there: the one command (device tool: carry .sprint/pack, timeout ~540 s)
#   tools/gpu_sprint.sh restore   # here: put the shipped weights back
#   faceinpaint-train ship OUT/METHOD.safetensors   # here: each returned file through the ship gate
#
# What travels is the working tree (at most 64 MiB): the code, the pack (.sprint/pack, <= 22 MiB of
# 128 px JPEG crops) and nothing else. The shipped weights (~45 MB) are moved to .sprint/stash for the
# call (both folders are git-ignored; only .sprint/pack is carried), so the sprint trains from
# scratch: eight minutes of an H200 are far more than the CPU-hours behind the shipped files, and
# the ship gate keeps whichever is better. What comes back is $OUT: one fp16 file per method (model
# card in its metadata) and all.json (images/s and images seen per method), 7 files of < 16 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${FACEINPAINT_DATA:-../shared/data}
case "${1:-}" in
  prepare)
    mkdir -p .sprint/stash
    [ -f .sprint/pack/pack.json ] || faceinpaint-train pack --data "$DATA/utkface/train" --data "$DATA/celeba/train" \
      -o .sprint/pack --resolution 128 --quality 85 --max-mib 22 --cache-dir .sprint/cache
    rm -rf .sprint/cache
    for f in resources/weights/*.safetensors; do [ -e "$f" ] && mv "$f" .sprint/stash/; done
    du -sh .sprint/pack ;;
  restore)
    for f in .sprint/stash/*.safetensors; do [ -e "$f" ] && mv "$f" resources/weights/; done
    git status --short resources/weights ;;
  run)  # on the GPU machine: install, check the CUDA inference path (a minute at most), then train for 8 minutes
    python3 -m pip install -q --no-deps -e . >/dev/null 2>&1 || true
    timeout 60 python3 -m pytest -q -x tests/engine/models -k "collagan or gfc" -p no:cacheprovider || true
    PYTHONUNBUFFERED=1 faceinpaint-train all --pack .sprint/pack --device cuda --minutes 8 \
      --out "${OUT:-sprint-out}" --runs /tmp/sprint-runs --set num_workers=0 ;;
  *) echo "usage: tools/gpu_sprint.sh prepare|run|restore" >&2; exit 2 ;;
esac
