/**
 * The building blocks every message schema is made of (TypeBox, compiled to plain JavaScript
 * checks), and the one function that turns a schema into a parser with RT_BAD_MESSAGE errors.
 *
 * TypeBox, because the step hot path is fastest with it (bench/schemas.ts: its compiled checks
 * are one to two orders of magnitude faster than valibot's and zod's on the same rules), it checks
 * a decoded message in place, without copying it, and its compiler takes refinements (typed
 * arrays, cross-field rules) into the compiled check; @sinclair/typebox 0.34, as fast, is the
 * older line and compiles no refinements without a global type registry. Objects
 * are closed (no unknown fields): peers run the same protocol version, so a field this side does
 * not know is a malformed message, and nothing unchecked travels on into training state or a
 * checkpoint. Every string, list and map is bounded, so a hostile message costs little to check.
 */
import Type, { type Static, type TProperties, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { explain, oversizedCheck } from './explain.js';

export { Type, type Static };

/** An integer in [min, max] (non-negative and safe by default). */
export const Int = (min = 0, max = Number.MAX_SAFE_INTEGER) => Type.Integer({ minimum: min, maximum: max });
/** A finite number (TypeBox's Number refuses NaN and the infinities). */
export const Finite = () => Type.Number();
/** Any number, NaN and the infinities included: a diverged loss is information, not a protocol error. */
export const AnyNumber = () => Type.Refine(Type.Unsafe<number>({}), (x) => typeof x === 'number', () => 'must be a number');
/** A string of at most `max` characters. */
export const Str = (max = 4096) => Type.String({ maxLength: max });
/** `schema`, or null. */
export const OrNull = <S extends TSchema>(schema: S) => Type.Union([schema, Type.Null()]);
/** One of a fixed list of strings. */
export const OneOf = <const L extends readonly string[]>(values: L) => Type.Unsafe<L[number]>(Type.Union(values.map((v) => Type.Literal(v))));

/** An object with exactly these fields: peers of one protocol version send no others. */
export const Closed = <P extends TProperties>(properties: P) => Type.Object(properties, { additionalProperties: false });
/** A message: a closed object whose `type` is `name`. */
export const Msg = <const N extends string, P extends TProperties>(name: N, properties: P) => Closed({ type: Type.Literal(name), ...properties });

/**
 * A typed array of one class (msgpack's typed-array extensions decode to these), of `length`
 * elements when given: typed arrays carry the bulk data (rows, indices, weights, nonces).
 */
function typed<A extends ArrayBufferView & { length: number }>(cls: abstract new (...args: never[]) => A, what: string, length?: number) {
  const ok = length === undefined ? (x: unknown) => x instanceof cls : (x: unknown) => x instanceof cls && x.length === length;
  return Type.Refine(Type.Unsafe<A>({}), ok, () => (length === undefined ? `must be a ${what}` : `must be ${length} bytes`));
}
export const F32 = () => typed<Float32Array>(Float32Array, 'Float32Array');
export const U32 = () => typed<Uint32Array>(Uint32Array, 'Uint32Array');
export const I32 = () => typed<Int32Array>(Int32Array, 'Int32Array');
/** Exactly `length` raw bytes (msgpack bin): a nonce, an HMAC. */
export const Bytes = (length: number) => typed<Uint8Array>(Uint8Array, 'Uint8Array', length);

/** Most entries a named map (a configuration, slot set or scalar set) may hold. */
export const MAX_NAMED = 32;
/** A flat map of at most MAX_NAMED short names to values of one kind. */
export const Named = <S extends TSchema>(value: S) => Type.Record(Type.String(), value, { maxProperties: MAX_NAMED, propertyNames: { maxLength: 64 } });

function bad(what: string): never {
  throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `malformed message: ${what}`);
}

/** One line, bounded: field names in an error can come from a hostile peer. */
function oneLine(s: string): string {
  const flat = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat;
}

/**
 * A parser for `schema`: returns the value itself (checked in place, nothing copied) or throws
 * RT_BAD_MESSAGE naming the first field at fault. `where` names a schema that sits inside a
 * message (e.g. `state`).
 */
export function parser<S extends TSchema>(schema: S, where = ''): (raw: unknown) => Static<S> {
  const validator = Compile(schema);
  const at = where ? [where] : [];
  const oversized = oversizedCheck(schema, at);
  return (raw) => {
    const long = oversized(raw);
    if (long === null && validator.Check(raw)) return raw as Static<S>;
    const { path, why } = long ?? explain(schema, raw, at);
    return bad(oneLine(`${path.length > 0 ? `field ${path.join('.')}` : 'message'} ${why}`));
  };
}
