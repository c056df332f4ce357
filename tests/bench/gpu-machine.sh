#!/usr/bin/env bash
# On a GPU machine with no Node, browser or network (../shared/GPU.md), from the checkout's root:
# unpacks the pack `npm run bench:gpu-pack` made (.gpu-pack, carried beside the working tree) and
# runs the WebGPU bench in Node on Dawn (tests/bench/dawn-bench.ts), PyTorch's same step on CUDA
# beside it. Arguments go to the bench (default: bge-small and bge-base, fused and GradCache,
# 32 + 32 × 128 tokens); the table goes to stdout, the JSON to $OUT/dawn.json (the device tool's
# folder that comes back) or .bench/dawn.json.
#
#   bash tests/bench/gpu-machine.sh [--models small,base] [--paths fused,gradcache] [--moments bfloat16] …
#
# Environment: PACK (default .gpu-pack), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
PACK=${PACK:-.gpu-pack}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tabtune-gpu.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
[ -f "$PACK/bench.mjs" ] || { echo "no GPU pack at $PACK: run \`npm run bench:gpu-pack\` where node_modules is, and carry .gpu-pack" >&2; exit 2; }
unxz_to() {
  if command -v xz >/dev/null; then xz -dc "$1" > "$2"
  else "${PYTHON:-python3}" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
for f in "$PACK"/*.xz; do unxz_to "$f" "$WORK/$(basename "$f" .xz)"; done
cp "$PACK/bench.mjs" "$WORK/"
chmod +x "$WORK/node"
command -v nvidia-smi >/dev/null && nvidia-smi -L || true
export TABTUNE_DAWN_NODE="$WORK/dawn.node" TABTUNE_VULKAN_DIR="$WORK"
exec "$WORK/node" --liftoff-only "$WORK/bench.mjs" --python "${PYTHON:-python3}" \
  --torch-script tests/bench/torch_gpu_bench.py --out "${OUT:-.bench}/dawn.json" "$@"
