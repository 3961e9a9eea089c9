#!/usr/bin/env bash
# Create .venv and install inrcodec into it (editable) with the test and cluster (Ray) extras.
# torch is pinned to the CPU build first; on a CUDA machine install your CUDA torch into .venv
# beforehand (any torch >= 2.1 works) and set INRCODEC_KEEP_TORCH=1.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
if [ -z "${INRCODEC_KEEP_TORCH:-}" ]; then
    python -m pip install -q "torch==2.13.0"
fi
python -m pip install -q -e ".[test,cluster]"
