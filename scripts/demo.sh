#!/usr/bin/env bash
# README's main job: install into .venv, encode the shipped example clip, decode it to MP4.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p out
inrcodec encode examples/tree_160x120.mp4 -o out/tree.slt --bpp 0.3 -y
inrcodec decode out/tree.slt -o out/tree.mp4 -y
inrcodec info out/tree.slt
