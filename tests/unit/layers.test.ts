/**
 * The house is built in layers and imports only point down: a module may import its own layer or
 * a lower one, never a higher one or a sibling on the same level (collective and optim; coordinator
 * and worker). The layer picture is the README's "Architecture" section; this test keeps it true.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Lowest first. A module belongs to the layer with the longest matching prefix. */
export const LAYERS: readonly { name: string; prefixes: string[]; level: number }[] = [
  { name: 'base', prefixes: ['shared/base/'], level: 0 },
  { name: 'kernels', prefixes: ['shared/kernels/'], level: 1 },
  { name: 'protocol', prefixes: ['shared/protocol/'], level: 2 },
  { name: 'transport', prefixes: ['shared/transport/'], level: 3 },
  { name: 'collective', prefixes: ['shared/collective/'], level: 4 },
  { name: 'optim', prefixes: ['shared/optim/'], level: 4 },
  { name: 'config', prefixes: ['shared/config/'], level: 5 },
  { name: 'job', prefixes: ['shared/job/'], level: 6 },
  { name: 'data', prefixes: ['shared/data/'], level: 7 },
  { name: 'engine', prefixes: ['shared/engine/'], level: 8 },
  { name: 'jobs', prefixes: ['jobs/'], level: 9 },
  { name: 'coordinator', prefixes: ['coordinator/'], level: 10 },
  { name: 'worker', prefixes: ['worker/'], level: 10 },
  { name: 'ops', prefixes: ['coordinator/ops/'], level: 11 },
  { name: 'launch', prefixes: ['launch/', 'cli.ts', 'index.ts'], level: 12 },
];

const SRC = 'src';

function layerOf(path: string): (typeof LAYERS)[number] | undefined {
  let best: (typeof LAYERS)[number] | undefined;
  let bestLength = -1;
  for (const layer of LAYERS) {
    for (const prefix of layer.prefixes) {
      if (path.startsWith(prefix) && prefix.length > bestLength) {
        best = layer;
        bestLength = prefix.length;
      }
    }
  }
  return best;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative module specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g)) found.push(m[2]!);
  return found;
}

describe('layers', () => {
  const files = sources(SRC).map((f) => relative(SRC, f));

  it('places every source file in a layer', () => {
    expect(files.filter((f) => layerOf(f) === undefined)).toEqual([]);
  });

  it('lets imports point only down', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = layerOf(file)!;
      for (const spec of importsOf(readFileSync(join(SRC, file), 'utf8'))) {
        const target = normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts');
        const to = layerOf(target);
        if (to === undefined) {
          wrong.push(`${file} imports ${spec}, outside src's layers`);
        } else if (to !== from && to.level >= from.level) {
          wrong.push(`${file} (${from.name}) imports ${target} (${to.name})`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('notices an upward import (the check itself can fail)', () => {
    const from = layerOf('shared/base/errors.ts')!;
    const to = layerOf('coordinator/run.ts')!;
    expect(to.level).toBeGreaterThan(from.level);
    expect(layerOf('coordinator/ops/http.ts')!.name).toBe('ops');
    expect(importsOf("import { a } from '../x.js';\nexport * from './y.js';\nawait import('../z.js');")).toEqual(['../x.js', './y.js', '../z.js']);
  });
});
