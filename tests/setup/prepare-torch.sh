#!/usr/bin/env bash
# Prepares PyTorch (the CPU build) for the optimizer equivalence tests (tests/unit/torch-optim.test.ts)
# into a private folder with pip's --target, so the system's Python and its packages are untouched.
# pip runs with this machine's own configuration (its package indexes and wheel folders); retries
# are off, so an index that cannot be reached is passed over at once instead of backed off from
# for every package.
#
# Writes "$CACHE/site" (a folder for PYTHONPATH) holding torch; the tests read it.
# Usage: tests/setup/prepare-torch.sh [--force]     (CACHE defaults to .cache/torch)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${RINGTRAIN_TORCH_CACHE:-$ROOT/.cache/torch}"
PYTHON="${RINGTRAIN_PYTHON:-python3}"
say() { echo "prepare-torch: $*" >&2; }

mkdir -p "$CACHE"
# Test files run in parallel and may each ask for torch: one prepares, the others wait.
if command -v flock >/dev/null; then exec 9>"$CACHE/.lock"; flock -w 900 9; fi
command -v "$PYTHON" >/dev/null || { say "needs $PYTHON (Python 3 with pip)"; exit 1; }
if [[ "${1:-}" != "--force" ]] && PYTHONPATH="$CACHE/site" "$PYTHON" -c 'import torch' 2>/dev/null; then
  say "already prepared ($CACHE/site)"; exit 0
fi
rm -rf "$CACHE/site.tmp"
start=$SECONDS
"$PYTHON" -m pip install --quiet --no-input --retries 0 --root-user-action=ignore --target "$CACHE/site.tmp" torch 2> >(grep -v -e 'Retrying' -e 'is ignored' >&2) \
  || { say "pip could not install torch (see above)"; exit 1; }
PYTHONPATH="$CACHE/site.tmp" "$PYTHON" -c 'import torch' || { say "torch installed but does not import"; exit 1; }
rm -rf "$CACHE/site"
mv "$CACHE/site.tmp" "$CACHE/site"
say "torch $(PYTHONPATH="$CACHE/site" "$PYTHON" -c 'import torch; print(torch.__version__)') ready in $((SECONDS - start)) s ($CACHE/site)"
