import { describe, expect, it } from 'vitest';
import { StepCollector } from '../../src/coordinator/step-control.js';
import type { StepDoneMsg } from '../../src/shared/protocol/protocol.js';

const report = (step: number, checksum: string | null, loss = 0.5): StepDoneMsg => ({
  type: 'step-done', generation: 1, step, loss, samples: 96, checksum,
  timings: { waitMs: 0, computeMs: 1, allreduceMs: 1, updateMs: 0, commMs: 1 }, skipped: false,
});

describe('step control', () => {
  it('commits a step once every rank agrees', () => {
    const c = new StepCollector(4, 3);
    expect(c.add(0, report(4, 'aa'))).toBe(false);
    expect(c.missing()).toEqual([1, 2]);
    c.add(2, report(4, 'aa'));
    expect(c.add(1, report(4, 'aa'))).toBe(true);
    expect(c.commit()).toMatchObject({ step: 4, loss: 0.5, samples: 96, checksums: ['aa', 'aa', 'aa'] });
  });

  it('refuses to commit diverged replicas, naming the ranks', () => {
    const c = new StepCollector(0, 3);
    c.add(0, report(0, 'aa'));
    c.add(1, report(0, 'bb'));
    c.add(2, report(0, 'aa'));
    // Both the code and the ranks named: toThrow checks what was thrown, and fails if nothing is.
    expect(() => c.commit()).toThrow(expect.objectContaining({ code: 'RT_REPLICA_DIVERGED', message: expect.stringMatching(/rank\(s\) 1 differ/) }));
  });

  it('refuses ranks that disagree on the all-reduced loss', () => {
    const c = new StepCollector(0, 2);
    c.add(0, report(0, null, 0.5));
    c.add(1, report(0, null, 0.6));
    expect(() => c.commit()).toThrow(/disagree/);
  });

  it('rejects a duplicate or wrong-step report', () => {
    const c = new StepCollector(2, 2);
    c.add(0, report(2, null));
    expect(() => c.add(0, report(2, null))).toThrow(/twice/);
    expect(() => c.add(1, report(3, null))).toThrow(/step 3/);
  });
});
