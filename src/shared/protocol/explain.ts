/**
 * Why a value fails its schema, as the path of the first field at fault and a few words. Only a
 * failed check pays for this. TypeBox's own error walk visits every element of a list (about half
 * a millisecond per step report here), so a hostile message of thousands of elements would stall
 * the process; this walk descends only into the first part that fails its compiled check, and
 * asks TypeBox for its words only about a single value.
 */
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

type Validator = ReturnType<typeof Compile>;
/** The JSON Schema keywords this protocol's schemas use (schema.ts builds them). */
interface Node {
  type?: string;
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: boolean;
  patternProperties?: Record<string, Node>;
  maxProperties?: number;
  propertyNames?: { maxLength?: number };
  items?: Node;
  minItems?: number;
  maxItems?: number;
  anyOf?: Node[];
  '~refine'?: { check(v: unknown): boolean; error(v: unknown): string }[];
}

const validators = new WeakMap<object, Validator>();
/** The compiled check of a part of a schema, compiled the first time a failure needs it. */
function passes(schema: Node, value: unknown): boolean {
  let v = validators.get(schema);
  if (v === undefined) {
    v = Compile(schema as TSchema);
    validators.set(schema, v);
  }
  return v.Check(value);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

/** Where `value` breaks `schema` (a path of field names and indices) and how. */
export function explain(schema: Node, value: unknown, path: string[] = []): { path: string[]; why: string } {
  const at = (why: string): { path: string[]; why: string } => ({ path, why });
  if (schema.type === 'object') {
    if (!isRecord(value)) return at('must be an object');
    // The first field at fault in the order the schema declares them, then any unknown one.
    const props = schema.properties ?? {};
    const required = schema.required ?? [];
    for (const [k, sub] of Object.entries(props)) {
      if (!Object.hasOwn(value, k)) {
        if (required.includes(k)) return { path: [...path, k], why: 'is missing' };
      } else if (!passes(sub, value[k])) return explain(sub, value[k], [...path, k]);
    }
    const keys = Object.keys(value);
    if (schema.additionalProperties === false) {
      const extra = keys.filter((k) => !Object.hasOwn(props, k));
      if (extra.length > 0) return at(`must not have additional properties: ${JSON.stringify(extra.slice(0, 3))}`);
    }
    if (schema.patternProperties !== undefined) {
      if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) return at(`must hold at most ${schema.maxProperties} entries`);
      const longest = schema.propertyNames?.maxLength;
      const long = longest === undefined ? undefined : keys.find((k) => k.length > longest);
      if (long !== undefined) return at(`must have names of at most ${longest} characters`);
      const entry = Object.values(schema.patternProperties)[0];
      const bad = entry === undefined ? undefined : keys.find((k) => !passes(entry, value[k]));
      if (entry !== undefined && bad !== undefined) return explain(entry, value[bad], [...path, bad]);
    }
  } else if (schema.type === 'array') {
    if (!Array.isArray(value)) return at('must be an array');
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return at(`must hold at most ${schema.maxItems} items`);
    if (schema.minItems !== undefined && value.length < schema.minItems) return at(`must hold at least ${schema.minItems} items`);
    const item = schema.items;
    const bad = item === undefined ? -1 : value.findIndex((x) => !passes(item, x));
    if (item !== undefined && bad >= 0) return explain(item, value[bad], [...path, String(bad)]);
  } else if (schema.anyOf !== undefined && schema.anyOf.every((s) => s.type === 'object') && isRecord(value)) {
    // Forms of one message (a batch's rows or indices): which one the sender meant is unknown,
    // so the error names what tells them apart.
    const forms = schema.anyOf;
    if (!forms.some((s) => passes(s, value))) {
      const own = forms.map((f) => (f.required ?? []).filter((k) => !forms.every((o) => (o.required ?? []).includes(k))));
      const meant = forms.filter((_, i) => own[i]!.some((k) => value[k] !== undefined));
      if (meant.length === 1) return explain(meant[0]!, value, path);
      return at(`must carry exactly one of ${own.map((keys) => keys.join('+')).join(' or ')}`);
    }
  } else if (schema.type !== undefined || schema.anyOf !== undefined) {
    // A single value (a number, a string, a literal, a union of those): cheap for TypeBox to explain.
    const validator = validators.get(schema) ?? Compile(schema as TSchema);
    const first = validator.Errors(value).find((e) => e.keyword !== 'anyOf') ?? validator.Errors(value)[0];
    if (first !== undefined) return at(first.message);
  }
  // The parts pass; what fails is a refinement of the whole (typed arrays, cross-field rules).
  const failed = schema['~refine']?.find((r) => !r.check(value));
  return at(failed?.error(value) ?? 'is invalid');
}

/** A bounded list inside a message: the field names leading to it, and its bound. */
interface ListBound {
  path: string[];
  maxItems: number;
}

/** Every bounded list reachable through plain fields of `schema` (lists inside lists aside). */
function listBounds(schema: Node, path: string[] = []): ListBound[] {
  if (schema.type !== 'object' || schema.properties === undefined) return [];
  return Object.entries(schema.properties).flatMap(([k, sub]) =>
    sub.type === 'array' && sub.maxItems !== undefined ? [{ path: [...path, k], maxItems: sub.maxItems }] : listBounds(sub, [...path, k]));
}

/**
 * A check that finds the first list in a value longer than its schema allows, without visiting
 * any element (the compiled check visits every element before it compares the length): a
 * hostile message of a million elements is refused at once. It returns null when every list is
 * within bounds; the bounds are found once, when the check is made.
 */
export function oversizedCheck(schema: Node, prefix: string[]): (value: unknown) => { path: string[]; why: string } | null {
  const bounds = listBounds(schema);
  if (bounds.length === 0) return () => null;
  return (value) => {
    for (const b of bounds) {
      let v: unknown = value;
      for (const k of b.path) v = isRecord(v) ? v[k] : undefined;
      if (Array.isArray(v) && v.length > b.maxItems) return { path: [...prefix, ...b.path], why: `must hold at most ${b.maxItems} items` };
    }
    return null;
  };
}
