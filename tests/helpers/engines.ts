/** Runs bench/engine-steps.ts (one job on one engine, no ring) as a child process and parses its line. */
import { fileURLToPath } from 'node:url';
import { runNode } from './cli.js';

// Built by `npm run pretest` (tsc -p bench/tsconfig.json).
const RUNNER = fileURLToPath(new URL('../../dist-bench/engine-steps.js', import.meta.url));

export interface EngineLine {
  engine: string;
  reason?: string;
  error?: string;
  losses?: number[];
  msPerStep?: number;
  checksum?: string;
  weights?: Float32Array;
}

export async function runEngine(job: string, backend: string, opts: { steps?: number; batchSize?: number; env?: Record<string, string>; weights?: boolean; gpu?: number; timeoutMs?: number } = {}): Promise<EngineLine> {
  const args = [RUNNER, '--child', '--jobs', job, '--backends', backend, '--steps', String(opts.steps ?? 1), '--batch-size', String(opts.batchSize ?? 32)];
  if (opts.weights) args.push('--dump-weights');
  if (opts.gpu !== undefined) args.push('--gpu', String(opts.gpu));
  const r = await runNode(args, `engines ${job} ${backend}`, { env: opts.env, timeoutMs: opts.timeoutMs ?? 120_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`engines ${job} ${backend} printed no result\n${r.stderr.slice(-2000)}`);
  const parsed = JSON.parse(line) as EngineLine & { weights?: string };
  const w = parsed.weights === undefined ? undefined : Buffer.from(parsed.weights, 'base64');
  // Copied into a fresh ArrayBuffer: a Buffer may sit at an offset that is not 4-byte aligned.
  return { ...parsed, weights: w && new Float32Array(new Uint8Array(w).buffer) };
}

/** An environment in which no Vulkan driver can be found, whatever the machine has. */
export const NO_VULKAN: Record<string, string> = { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };
