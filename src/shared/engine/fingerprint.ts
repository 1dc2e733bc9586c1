/**
 * What a rank's model looks like, for the cross-rank check before training: every trainable
 * weight's name, shape and dtype, in flat-buffer order, and the parameter count. tfjs numbers
 * auto-generated layer names per process ("dense_Dense3/kernel" in a process that built two
 * models before), so the trailing counters are dropped: only structure is compared.
 */
import { createHash } from 'node:crypto';
import type { Trainer } from './trainer.js';
import type { ModelFingerprint } from '../protocol/protocol.js';

/** Removes the per-process counter tfjs appends to each name segment. */
export function canonicalWeightName(name: string): string {
  return name.split('/').map((seg) => seg.replace(/_?\d+$/, '')).join('/');
}

/** JSON with object keys sorted and layer names left out, so equal configurations hash alike. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  return Object.fromEntries(Object.keys(o).filter((k) => k !== 'name').sort().map((k) => [k, canonical(o[k])]));
}

/** What the layers compute: each layer's class and configuration (names aside), hashed. */
export function architectureOf(layers: readonly { getClassName(): string; getConfig(): unknown }[]): { hash: string; layers: string[] } {
  const described = layers.map((l) => `${l.getClassName()} ${JSON.stringify(canonical(l.getConfig()))}`);
  return { hash: createHash('sha256').update(described.join('\n')).digest('hex').slice(0, 16), layers: described };
}

export function modelFingerprint(trainer: Trainer): ModelFingerprint {
  return {
    paramCount: trainer.paramCount,
    weights: trainer.params.map((p) => ({ name: canonicalWeightName(p.name), shape: p.shape.slice(), dtype: p.dtype })),
    architecture: architectureOf(trainer.model.layers).hash,
  };
}
