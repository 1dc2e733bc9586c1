/**
 * Trainer.setWeights on every CPU-side engine: what getWeights reads back is exactly what was set,
 * and changing the flat buffer afterwards (the next Adam step writes it in place) never changes the
 * model behind the trainer's back (cpu keeps the array a tensor is made from; wasm copies it).
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { selectEngine } from '../../src/shared/engine/backend.js';
import { Trainer } from '../../src/shared/engine/trainer.js';
import { BUILTIN_JOBS } from '../../src/jobs/registry.js';

const silent = pino({ level: 'silent' });

describe('setWeights', () => {
  it.each([['wasm'], ['cpu']] as const)('on %s loads exactly the given values and keeps no alias of them', async (name) => {
    const engine = await selectEngine(name, silent);
    const trainer = Trainer.create(engine.tf, BUILTIN_JOBS['regression-mlp']!, 3);
    const flat = new Float32Array(trainer.paramCount).map((_, i) => Math.sin(i) * 0.25);
    for (let round = 0; round < 3; round++) {
      const want = flat.slice();
      trainer.setWeights(flat);
      expect(Buffer.compare(Buffer.from(trainer.getWeights().buffer), Buffer.from(want.buffer))).toBe(0);
      // The next step overwrites the buffer in place; the model must still hold what was set.
      flat.fill(7);
      expect(Buffer.compare(Buffer.from(trainer.getWeights().buffer), Buffer.from(want.buffer))).toBe(0);
      flat.set(want.map((v) => v * 0.5 + round));
    }
    trainer.dispose();
  });
});
