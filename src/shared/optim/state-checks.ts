/** Checks every optimizer's state shares: name, configuration, slots and scalars present and finite. */
import type { Alloc, OptimState, Optimizer } from './types.js';

/** Zeroed slots of `size` values each. */
export function zeroSlots(names: readonly string[], size: number, alloc: Alloc = (n) => new Float32Array(n)): Record<string, Float32Array> {
  return Object.fromEntries(names.map((n) => [n, alloc(size)]));
}

/** x multiplied into 1, `times` times: how the optimizers keep beta^t without Math.pow rounding. */
export function repeatedProduct(x: number, times: number): number {
  let p = 1;
  for (let i = 0; i < times; i++) p *= x;
  return p;
}

/** True when every value is finite; checks run on adoption and checkpoints, not per step. */
function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

const same = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/** The first problem any optimizer finds with a state, or null. */
export function commonProblems(opt: Optimizer, state: OptimState, paramCount: number, scalars: readonly string[]): string | null {
  if (state.optimizer !== opt.name) return `the state belongs to optimizer ${JSON.stringify(state.optimizer)}, this run uses ${opt.name}`;
  if (!same(state.config, opt.getConfig())) return `the state was written with ${opt.name} configuration ${JSON.stringify(state.config)}, this run uses ${JSON.stringify(opt.getConfig())}`;
  const names = Object.keys(state.slots).sort();
  if (names.join(',') !== [...opt.slotNames].sort().join(',')) return `${opt.name} keeps slots [${opt.slotNames.join(', ')}], the state has [${names.join(', ')}]`;
  for (const [name, slot] of Object.entries(state.slots)) {
    if (slot.length !== paramCount) return `slot ${name} holds ${slot.length} values for ${paramCount} parameters`;
    if (!allFinite(slot)) return `slot ${name} holds a non-finite value`;
  }
  const keys = Object.keys(state.scalars).sort();
  if (keys.join(',') !== [...scalars].sort().join(',')) return `${opt.name} keeps scalars [${scalars.join(', ')}], the state has [${keys.join(', ')}]`;
  for (const k of scalars) if (!Number.isFinite(state.scalars[k])) return `scalar ${k} is not finite`;
  return null;
}
