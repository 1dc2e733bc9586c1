/**
 * `ringtrain data pack` and `ringtrain data inspect`: build a packed dataset from CSV, JSONL or a
 * job's in-memory split, and show (and verify) one. Flags are checked before any file is written;
 * a progress bar runs on a TTY (stderr), stdout carries only the result line.
 */
import { extname } from 'node:path';
import type { Argv } from 'yargs';
import cliProgress from 'cli-progress';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import { ConfigDefaults } from '../shared/config/config.js';
import { numberFlag } from '../shared/config/flags.js';
import { loadJob } from '../jobs/registry.js';
import { specOf } from '../shared/job/spec.js';
import { checkData } from '../shared/job/validate.js';
import { packArrays, packCsv, packJsonl, parseTensorSpecs, type PackProgress } from '../shared/data/pack-sources.js';
import { PackReader } from '../shared/data/pack-reader.js';
import type { PackHeader } from '../shared/data/pack-format.js';

const SPLITS = ['train', 'test', 'validation'] as const;

/** A byte/row progress bar on a TTY; nothing otherwise. */
function progressBar(label: string): { update: PackProgress; stop: () => void } {
  if (process.stderr.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: `${label} |{bar}| {percentage}% | ETA {eta_formatted}`, hideCursor: true, fps: 10 }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop: () => started && bar.stop(),
  };
}

function summary(file: string, h: PackHeader, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    file, rows: h.rows, rowBytes: h.rowBytes, dataBytes: h.rows * h.rowBytes, sha256: h.sha256,
    tensors: h.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })), ...extra,
  };
}

async function pack(argv: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out = argv['out'];
  if (typeof out !== 'string' || out === '') throw new RingtrainError(ErrorCodes.BAD_CONFIG, '--out FILE is required');
  const from = argv['from'] as string | undefined;
  const jobSpec = argv['job'] as string | undefined;
  if ((from === undefined) === (jobSpec === undefined)) throw new RingtrainError(ErrorCodes.BAD_CONFIG, 'give either --from FILE (.csv or .jsonl) or --job NAME --split SPLIT');
  const tensors = parseTensorSpecs((argv['tensor'] as string[] | undefined) ?? []);
  const bar = progressBar(`packing ${out}`);
  try {
    if (from !== undefined) {
      const kind = (argv['format'] as string | undefined) ?? extname(from).slice(1).toLowerCase();
      if (kind === 'csv') return summary(out, await packCsv(from, out, tensors, bar.update));
      if (kind === 'jsonl' || kind === 'ndjson') return summary(out, await packJsonl(from, out, tensors, bar.update));
      throw new RingtrainError(ErrorCodes.BAD_CONFIG, `--from ${from}: cannot tell its format from the name; add --format csv|jsonl`);
    }
    const split = argv['split'] as (typeof SPLITS)[number];
    // The training run's --seed, checked as `eval` checks it.
    const seed = numberFlag({ seed: argv['seed'] ?? ConfigDefaults.seed }, 'seed', 'eval');
    if (tensors.length > 0) throw new RingtrainError(ErrorCodes.BAD_CONFIG, '--tensor applies to --from; a job split is packed as the job\'s own tensors');
    const job = await loadJob(jobSpec!);
    const spec = specOf(job);
    const all = await spec.loadData({ seed, rank: null, worldSize: null });
    checkData(job, all);
    const data = all[split];
    if (!data) throw new RingtrainError(ErrorCodes.BAD_CONFIG, `job ${job.name} has no ${split} split`);
    const h = await packArrays(out, spec.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: data.tensors[t.name]! })), data.size, bar.update);
    return summary(out, h, { job: job.name, split, seed });
  } finally {
    bar.stop();
  }
}

async function inspect(argv: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await PackReader.open(String(argv['file']));
  try {
    let verified: boolean | null = null;
    if (argv['verify'] !== false) {
      const bar = progressBar('verifying');
      try {
        await r.verify(bar.update);
      } finally {
        bar.stop();
      }
      verified = true;
    }
    return summary(r.path, r.header, { dataOffset: r.header.dataOffset, fingerprint: r.fingerprint, verified });
  } finally {
    await r.close();
  }
}

/** The `data` command and its subcommands, for cli.ts. */
export function dataCommand(y: Argv): Argv {
  return y
    .command(
      'pack',
      'Build a packed dataset (random-access rows of named tensors) from CSV, JSONL or a job split',
      (c) => c
        .option('out', { type: 'string', describe: 'The packed file to write' })
        .option('from', { type: 'string', describe: 'Input file: .csv (numeric columns) or .jsonl (one object per line)' })
        .option('format', { type: 'string', choices: ['csv', 'jsonl'], describe: 'Input format when the file name does not say' })
        .option('tensor', { type: 'string', array: true, describe: 'NAME[:float32|int32][@D1xD2]=COLUMNS (CSV: 0-783, 5,7 or header names) or =FIELD (JSONL; default: every field)' })
        .option('job', { type: 'string', describe: "Pack a job's in-memory split as its named tensors (a v1 job's: x and y; built-in name or module path)" })
        .option('split', { type: 'string', choices: SPLITS, default: 'train', describe: 'Which split of --job' })
        .option('seed', { type: 'number', default: ConfigDefaults.seed, describe: "--job's data seed (the training run's --seed)" }),
      async (argv) => {
        process.stdout.write(`${JSON.stringify({ event: 'packed', ...(await pack(argv)) })}\n`);
      },
    )
    .command(
      'inspect <file>',
      'Show a packed dataset: header, rows, and whether its data matches its hash',
      (c) => c
        .positional('file', { type: 'string', describe: 'A packed dataset' })
        .option('verify', { type: 'boolean', default: true, describe: 'Hash the data and compare with the header (--no-verify: header only)' }),
      async (argv) => {
        process.stdout.write(`${JSON.stringify({ event: 'inspect', ...(await inspect(argv)) })}\n`);
      },
    )
    .demandCommand(1, 'name a data command: pack or inspect');
}
