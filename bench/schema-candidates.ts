/**
 * The step hot path's messages (a batch of step reports, a batch head carrying indices, go),
 * declared once per candidate schema library with the same rules: safe non-negative integers,
 * finite timings, a loss that may be NaN, bounded strings, no unknown fields, and indices that
 * number the batch's count. bench/schemas.ts times them side by side.
 */
import * as TB from 'typebox';
import { Compile } from 'typebox/compile';
import { Type as T34 } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import * as v from 'valibot';
import { z } from 'zod';

/** A validator under test: true when the message is well formed. */
export type Check = (raw: unknown) => boolean;
export type Hot = 'reports' | 'batch' | 'go';

const MAX = Number.MAX_SAFE_INTEGER;

function typebox1(): Record<Hot, Check> {
  const Int = TB.Integer({ minimum: 0, maximum: MAX });
  const AnyNumber = TB.Refine(TB.Unsafe<number>({}), (x) => typeof x === 'number');
  const Timings = TB.Object({ waitMs: TB.Number(), computeMs: TB.Number(), allreduceMs: TB.Number(), updateMs: TB.Number(), commMs: TB.Number() }, { additionalProperties: false });
  const Report = TB.Object({
    type: TB.Literal('step-done'), generation: Int, step: Int, loss: AnyNumber, samples: Int,
    checksum: TB.Union([TB.String({ maxLength: 4096 }), TB.Null()]), timings: Timings, skipped: TB.Boolean(),
  }, { additionalProperties: false });
  const Reports = TB.Object({ type: TB.Literal('reports'), reports: TB.Array(Report, { minItems: 1, maxItems: 1024 }) }, { additionalProperties: false });
  const Indices = TB.Refine(TB.Unsafe<Uint32Array>({}), (x) => x instanceof Uint32Array);
  const Batch = TB.Refine(TB.Object({
    type: TB.Literal('batch'), generation: Int, step: Int, epoch: Int, count: Int, nextEpoch: Int, nextCursor: Int,
    checksum: TB.Boolean(), sendState: TB.Boolean(), indices: Indices,
  }, { additionalProperties: false }), (b) => b.indices.length === b.count);
  const Go = TB.Object({ type: TB.Literal('go'), generation: Int }, { additionalProperties: false });
  const [r, b, g] = [Compile(Reports), Compile(Batch), Compile(Go)];
  return { reports: (x) => r.Check(x), batch: (x) => b.Check(x), go: (x) => g.Check(x) };
}

function typebox034(): Record<Hot, Check> {
  const Int = T34.Integer({ minimum: 0, maximum: MAX });
  const Timings = T34.Object({ waitMs: T34.Number(), computeMs: T34.Number(), allreduceMs: T34.Number(), updateMs: T34.Number(), commMs: T34.Number() }, { additionalProperties: false });
  const Report = T34.Object({
    // 0.34's compiler has no refinements without a type registry: the loss is checked after.
    type: T34.Literal('step-done'), generation: Int, step: Int, loss: T34.Unknown(), samples: Int,
    checksum: T34.Union([T34.String({ maxLength: 4096 }), T34.Null()]), timings: Timings, skipped: T34.Boolean(),
  }, { additionalProperties: false });
  const Reports = T34.Object({ type: T34.Literal('reports'), reports: T34.Array(Report, { minItems: 1, maxItems: 1024 }) }, { additionalProperties: false });
  const Batch = T34.Object({
    type: T34.Literal('batch'), generation: Int, step: Int, epoch: Int, count: Int, nextEpoch: Int, nextCursor: Int,
    checksum: T34.Boolean(), sendState: T34.Boolean(), indices: T34.Unknown(),
  }, { additionalProperties: false });
  const Go = T34.Object({ type: T34.Literal('go'), generation: Int }, { additionalProperties: false });
  const [r, b, g] = [TypeCompiler.Compile(Reports), TypeCompiler.Compile(Batch), TypeCompiler.Compile(Go)];
  return {
    reports: (x) => r.Check(x) && x.reports.every((m) => typeof m.loss === 'number'),
    batch: (x) => b.Check(x) && x.indices instanceof Uint32Array && x.indices.length === x.count,
    go: (x) => g.Check(x),
  };
}

function valibot(): Record<Hot, Check> {
  const Int = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
  const Num = v.pipe(v.number(), v.finite());
  const Timings = v.strictObject({ waitMs: Num, computeMs: Num, allreduceMs: Num, updateMs: Num, commMs: Num });
  const Report = v.strictObject({
    type: v.literal('step-done'), generation: Int, step: Int, loss: v.custom<number>((x) => typeof x === 'number'), samples: Int,
    checksum: v.nullable(v.pipe(v.string(), v.maxLength(4096))), timings: Timings, skipped: v.boolean(),
  });
  const Reports = v.strictObject({ type: v.literal('reports'), reports: v.pipe(v.array(Report), v.minLength(1), v.maxLength(1024)) });
  const Batch = v.pipe(v.strictObject({
    type: v.literal('batch'), generation: Int, step: Int, epoch: Int, count: Int, nextEpoch: Int, nextCursor: Int,
    checksum: v.boolean(), sendState: v.boolean(), indices: v.instance(Uint32Array),
  }), v.check((b) => b.indices.length === b.count));
  const Go = v.strictObject({ type: v.literal('go'), generation: Int });
  return { reports: (x) => v.is(Reports, x), batch: (x) => v.is(Batch, x), go: (x) => v.is(Go, x) };
}

function zod(): Record<Hot, Check> {
  const Int = z.int().min(0);
  const Timings = z.strictObject({ waitMs: z.number(), computeMs: z.number(), allreduceMs: z.number(), updateMs: z.number(), commMs: z.number() });
  const Report = z.strictObject({
    type: z.literal('step-done'), generation: Int, step: Int, loss: z.custom<number>((x) => typeof x === 'number'), samples: Int,
    checksum: z.string().max(4096).nullable(), timings: Timings, skipped: z.boolean(),
  });
  const Reports = z.strictObject({ type: z.literal('reports'), reports: z.array(Report).min(1).max(1024) });
  const Batch = z.strictObject({
    type: z.literal('batch'), generation: Int, step: Int, epoch: Int, count: Int, nextEpoch: Int, nextCursor: Int,
    checksum: z.boolean(), sendState: z.boolean(), indices: z.instanceof(Uint32Array),
  }).refine((b) => b.indices.length === b.count);
  const Go = z.strictObject({ type: z.literal('go'), generation: Int });
  return { reports: (x) => Reports.safeParse(x).success, batch: (x) => Batch.safeParse(x).success, go: (x) => Go.safeParse(x).success };
}

/** Every candidate, by the name the bench prints. */
export function candidates(): Record<string, Record<Hot, Check>> {
  return { 'typebox@1 Compile': typebox1(), '@sinclair/typebox@0.34 TypeCompiler': typebox034(), 'valibot@1': valibot(), 'zod@4': zod() };
}
