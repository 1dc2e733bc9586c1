/**
 * What building the native binding needs on this machine, each checked before anything is
 * downloaded or built, and each missing one reported as one RT_ENGINE_INSTALL line naming the fix.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCodes, RingtrainError } from '../../base/errors.js';
import { TFJS_NODE, TFJS_NODE_VERSION, tfjsNodeDir } from './locate.js';

const run = promisify(execFile);

/** The tools an install uses, resolved. */
export interface Toolchain {
  python3: string;
  /** The Node folder whose include/node holds this Node's headers (node-gyp's --nodedir). */
  nodedir: string;
  nodeGyp: string;
  nodePreGyp: string;
  tfjsNode: string;
}

function missing(what: string, fix: string): RingtrainError {
  return new RingtrainError(ErrorCodes.ENGINE_INSTALL, `${what}: ${fix}`);
}

async function works(cmd: string, args: string[]): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Node's headers: node-gyp would otherwise download them, which needs the network. A Node
 * installed from a distribution package or a release archive keeps them at PREFIX/include/node,
 * next to PREFIX/bin/node; npm_config_nodedir names another place.
 */
export function findNodedir(execPath: string, env: NodeJS.ProcessEnv): string | null {
  const candidates = [env['npm_config_nodedir'], dirname(dirname(execPath))].filter((d): d is string => typeof d === 'string' && d !== '');
  return candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h'))) ?? null;
}

/** Checks every prerequisite; `pip` only when the wheel is to be downloaded. */
export async function checkToolchain(opts: { pip: boolean }): Promise<Toolchain> {
  const python3 = process.env['PYTHON'] ?? 'python3';
  if (!(await works(python3, ['--version']))) throw missing('python3 not found (node-gyp and the wheel reader need it)', 'install Python 3 (e.g. apt-get install python3), or set PYTHON=/path/to/python3');
  if (opts.pip && !(await works(python3, ['-m', 'pip', '--version']))) throw missing(`pip not found (${python3} -m pip)`, 'install it (e.g. apt-get install python3-pip), or download the wheel elsewhere and use --wheel FILE.whl');
  const cxx = process.env['CXX'] ?? 'g++';
  if (!(await works(cxx, ['--version']))) throw missing(`C++ compiler ${cxx} not found`, 'install one (e.g. apt-get install g++), or set CXX');
  if (!(await works('make', ['--version']))) throw missing('make not found', 'install it (e.g. apt-get install make)');
  const nodedir = findNodedir(process.execPath, process.env);
  if (nodedir === null) throw missing(`this Node's headers (include/node/node_api.h) were not found next to ${process.execPath}`, 'install them with Node (distribution packages and release archives include them), or set npm_config_nodedir=DIR whose include/node holds them');
  const tfjsNode = tfjsNodeDir();
  if (tfjsNode === null) throw missing(`${TFJS_NODE} is not installed`, `run npm install --ignore-scripts ${TFJS_NODE}@${TFJS_NODE_VERSION} (ringtrain lists it as an optional dependency)`);
  const resolveBin = (from: string, pkg: string, bin: string): string | null => {
    try {
      return join(dirname(createRequire(from).resolve(`${pkg}/package.json`)), bin);
    } catch {
      return null;
    }
  };
  const nodeGyp = resolveBin(import.meta.url, 'node-gyp', 'bin/node-gyp.js');
  if (nodeGyp === null) throw missing('node-gyp is not installed', 'run npm install in the ringtrain folder (node-gyp is one of its dependencies)');
  const nodePreGyp = resolveBin(join(tfjsNode, 'package.json'), '@mapbox/node-pre-gyp', 'bin/node-pre-gyp');
  if (nodePreGyp === null) throw missing(`@mapbox/node-pre-gyp (a dependency of ${TFJS_NODE}) is not installed`, `run npm install --ignore-scripts ${TFJS_NODE}@${TFJS_NODE_VERSION}`);
  return { python3, nodedir, nodeGyp, nodePreGyp, tfjsNode };
}
