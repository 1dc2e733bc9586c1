/** Runs bench/engines.mjs (one job on one engine, no ring) as a child process and parses its line. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RUNNER = fileURLToPath(new URL('../../bench/engines.mjs', import.meta.url));

export interface EngineLine {
  engine: string;
  reason?: string;
  error?: string;
  losses?: number[];
  msPerStep?: number;
  checksum?: string;
  weights?: Float32Array;
}

export function runEngine(job: string, backend: string, opts: { steps?: number; batchSize?: number; env?: Record<string, string>; weights?: boolean; gpu?: number; timeoutMs?: number } = {}): Promise<EngineLine> {
  const args = [RUNNER, '--child', '--jobs', job, '--backends', backend, '--steps', String(opts.steps ?? 1), '--batch-size', String(opts.batchSize ?? 32)];
  if (opts.weights) args.push('--dump-weights');
  if (opts.gpu !== undefined) args.push('--gpu', String(opts.gpu));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`engines ${job} ${backend} did not finish in time\n${stderr.slice(-2000)}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('close', () => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (!line.startsWith('{')) return reject(new Error(`engines ${job} ${backend} printed no result\n${stderr.slice(-2000)}`));
      try {
        const parsed = JSON.parse(line) as EngineLine & { weights?: string };
        const w = parsed.weights === undefined ? undefined : Buffer.from(parsed.weights, 'base64');
        // Copied into a fresh ArrayBuffer: a Buffer may sit at an offset that is not 4-byte aligned.
        resolve({ ...parsed, weights: w && new Float32Array(new Uint8Array(w).buffer) });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

/** An environment in which no Vulkan driver can be found, whatever the machine has. */
export const NO_VULKAN: Record<string, string> = { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };
