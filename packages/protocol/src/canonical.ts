import { hash } from "node:crypto";

/**
 * JSON with object keys sorted at every level: two argument objects that differ only in key order
 * or whitespace give the same text, so a speculative call and the model's call can be matched.
 *
 * Written directly rather than as `JSON.stringify` of a sorted copy: every public event's id hashes
 * this text (MESSAGE_IDS.event), and the copy was most of that cost. The text is exactly what
 * `JSON.stringify(sortKeys(value))` gave (ids must not change across a rolling upgrade), including its
 * quirks: an object is read through its own enumerable keys only (a `Date` is `{}`), and integer-like
 * keys come first in numeric order, as a rebuilt object orders them.
 */
export function canonicalJson(value: unknown): string {
  return write(value, false) ?? "null";
}

/** The text of `value`, or undefined where JSON leaves it out (`inArray`: there it is `null`). */
function write(value: unknown, inArray: boolean): string | undefined {
  switch (typeof value) {
    case "string":
      return quote(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return JSON.stringify(value); // throws, as JSON.stringify does
    case "object":
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + write(value[i] as unknown, true);
        return out + "]";
      } else {
        const object = value as Record<string, unknown>;
        let out = "{";
        let first = true;
        for (const key of sortedKeys(object)) {
          const text = write(object[key], false);
          if (text === undefined) continue;
          out += (first ? "" : ",") + quote(key) + ":" + text;
          first = false;
        }
        return out + "}";
      }
    default:
      return inArray ? "null" : undefined; // undefined, functions, symbols
  }
}

/** Array-index keys ("0".."4294967294") first in numeric order, then the others sorted by code unit. */
function sortedKeys(object: object): string[] {
  const keys = Object.keys(object);
  // Own keys list array indexes first, in numeric order: when the first is not one, none is.
  if (keys.length === 0 || !isArrayIndex(keys[0]!)) return keys.sort(byCodeUnit);
  const indexes: string[] = [];
  const names: string[] = [];
  for (const key of keys) (isArrayIndex(key) ? indexes : names).push(key);
  names.sort(byCodeUnit);
  indexes.sort((a, b) => Number(a) - Number(b));
  return [...indexes, ...names];
}

/** Printable ASCII without a quote or a backslash: such a string is its own JSON text between quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function quote(text: string): string {
  return PLAIN.test(text) ? `"${text}"` : JSON.stringify(text);
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isArrayIndex(key: string): boolean {
  return /^(?:0|[1-9]\d*)$/.test(key) && Number(key) < 4294967295;
}

/** What identifies a call for matching: its tool and canonical arguments, hashed to a short token. */
export function callMatchKey(tool: string, args: unknown): string {
  return hash("sha256", `${tool}\n${canonicalJson(args)}`, "hex").slice(0, 32);
}
