/**
 * Vitest global setup: prepares the software Vulkan driver of the WebGPU tests (Mesa lavapipe,
 * unpacked into .cache/vulkan by prepare-vulkan.sh, nothing installed) before any test file runs,
 * so `npm test` needs no step before it. A failure is not thrown here: the WebGPU tests fail loudly
 * with its reason (tests/helpers/vulkan.ts), while every other test still runs.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./prepare-vulkan.sh', import.meta.url));

export default function setup(): void {
  const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) process.stderr.write(`prepare-vulkan failed (${r.status ?? r.signal}); the WebGPU tests will fail with its reason:\n${r.stderr ?? ''}\n`);
}
