/**
 * The `ringtrain engines` command and its `install-tensorflow` subcommand (flags here, work in
 * engines-list.ts and install.ts).
 */
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { formatEngines, listEngines } from '../engines-list.js';
import { DEFAULT_PIP_SPEC, defaultCacheDir } from './locate.js';
import { installTensorflow } from './install.js';
import { phases } from './phases.js';
import { ErrorCodes, RingtrainError } from '../../base/errors.js';
import { optNumberFlag } from '../../config/flags.js';

function installCommand(y: Argv): Argv {
  return y.command(
    'install-tensorflow',
    "Build the native TensorFlow engine from a TensorFlow pip wheel (tfjs-node's binding against the wheel's C library)",
    (c) =>
      c
        .option('pip', { type: 'string', describe: `pip download this requirement (default ${DEFAULT_PIP_SPEC}; tensorflow==VERSION for the CUDA build and its nvidia-* wheels)` })
        .option('wheel', { type: 'string', array: true, describe: 'A TensorFlow wheel file already downloaded (repeat for the nvidia_* CUDA wheels of a CUDA build)' })
        .option('cache-dir', { type: 'string', describe: 'Where built engines are kept, one folder per wheel hash (default: .cache/tensorflow in the ringtrain folder)' })
        .option('force', { type: 'boolean', default: false, describe: 'Rebuild even when the cache holds a build of this wheel' })
        .option('json', { type: 'boolean', default: false, describe: 'Print the result as one JSON line' }),
    async (argv) => {
      const wheels = ((argv['wheel'] as string[] | undefined) ?? []).map((w) => resolve(w));
      const pipArg = argv['pip'] as string | undefined;
      if (pipArg !== undefined && wheels.length) throw new RingtrainError(ErrorCodes.BAD_CONFIG, 'give --pip [SPEC] or --wheel FILE.whl, not both');
      if (pipArg === undefined && !wheels.length) throw new RingtrainError(ErrorCodes.BAD_CONFIG, `name the wheel: --pip [SPEC] (default ${DEFAULT_PIP_SPEC}) or --wheel FILE.whl`);
      const r = await installTensorflow({
        wheels, pip: pipArg === undefined ? null : pipArg.trim() || DEFAULT_PIP_SPEC, force: argv['force'] === true,
        cacheDir: resolve((argv['cacheDir'] as string | undefined) ?? defaultCacheDir()), phases: phases(process.stderr),
      });
      if (argv['json']) process.stdout.write(`${JSON.stringify({ event: 'engine-installed', ...r })}\n`);
      else process.stdout.write(`tensorflow engine ready: TensorFlow ${r.tfVersion} (${r.cuda ? 'CUDA' : 'CPU'} build) from ${r.wheel}${r.cached ? ', from the cache' : ', built now'}\n`);
      if (r.cuda && r.cudaSearchPath?.length === 0) {
        process.stderr.write(`warning: this CUDA build's libraries do not search ../nvidia/*/lib; start workers with LD_LIBRARY_PATH naming the CUDA 12 and cuDNN libraries (the cache entry's deps/nvidia/*/lib holds them)\n`);
      }
    },
  );
}

/** `ringtrain engines [install-tensorflow]`, as a yargs command module. */
export const enginesCommand: CommandModule = {
  command: 'engines',
  describe: 'List the compute engines (tensorflow, webgpu, wasm, cpu): available or why not, version, device',
  builder: (c) =>
    installCommand(c)
      .option('json', { type: 'boolean', default: false, describe: 'Print the list as one JSON line' })
      .option('gpu', { type: 'number', describe: 'Device index to probe (as a worker with --gpu I would)' }),
  handler: async (argv) => {
    // Probed as a worker with --gpu I would be, so the bound is the worker's row of the flag table.
    const list = await listEngines(optNumberFlag(argv, 'gpu', 'worker'));
    if (argv['json']) process.stdout.write(`${JSON.stringify({ event: 'engines', engines: list })}\n`);
    else process.stdout.write(`${formatEngines(list)}\n`);
  },
};
