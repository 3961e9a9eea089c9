#!/usr/bin/env bash
# README's main job: install into .venv, encode the shipped example clip, decode it to MP4.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p out
echo "== encode: fit the masks of a seeded random network to examples/tree_160x120.mp4 (default rate 0.2 bpp)"
inrcodec encode examples/tree_160x120.mp4 -o out/tree.slt --epochs 40 -y
echo "== decode: regenerate the network from out/tree.slt and render every frame to out/tree.mp4"
inrcodec decode out/tree.slt -o out/tree.mp4 -y
echo "== info: what the file holds"
inrcodec info out/tree.slt
