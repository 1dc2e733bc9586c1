/**
 * The software Vulkan driver (Mesa lavapipe) the WebGPU tests run on, prepared by
 * tests/setup/prepare-vulkan.sh into .cache/vulkan without touching the system's packages.
 * If it is not there yet, this runs the script once. WebGPU tests must fail loudly, not skip,
 * when no adapter can be had: the global setup prepares the driver, so its absence is a real failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = `${ROOT}tests/setup/prepare-vulkan.sh`;

function envFile(): string {
  return `${process.env['RINGTRAIN_VULKAN_CACHE'] ?? `${ROOT}.cache/vulkan`}/vulkan.env`;
}

function parse(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Environment for a child process that should see the lavapipe adapter. Throws when it cannot. */
export function vulkanEnv(): Record<string, string> {
  if (!existsSync(envFile())) {
    const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0 || !existsSync(envFile())) {
      throw new Error(`WebGPU tests need the software Vulkan driver and could not prepare it: run ${SCRIPT} (the test run's global setup, tests/setup/vulkan.ts, does). ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
  const env = parse(readFileSync(envFile(), 'utf8'));
  if (!env['VK_ICD_FILENAMES'] || !existsSync(env['VK_ICD_FILENAMES'])) throw new Error(`${envFile()} names no existing VK_ICD_FILENAMES; rerun ${SCRIPT} --force`);
  return env;
}
