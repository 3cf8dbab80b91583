// Text PostgreSQL cannot hold, stored losslessly: the one rule for every text and jsonb column of the schema.
//
// PostgreSQL refuses U+0000 in text and jsonb ("invalid byte sequence", "unsupported Unicode escape
// sequence") and refuses lone UTF-16 surrogates in jsonb, yet both are valid in a JSON request body and a
// JavaScript string. Rather than refuse a conversation that was already answered, such code units are stored
// as U+FFFF (a noncharacter that never occurs in text) followed by their four lowercase hex digits, and
// U+FFFF itself is stored the same way so that the mapping stays reversible. Everything else is stored as
// it is, so the database reads as plain text for every ordinary answer. Reading applies the inverse, so a
// row reads back byte-identical to what was written.
import { customType } from "drizzle-orm/pg-core";

const escapeUnit = "\uffff";
/** NUL, U+FFFF and lone surrogates (with the `u` flag a well-formed pair is one code point, outside the range). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what this finds.
const unstorable = /[\u0000\uffff\ud800-\udfff]/gu;
const escaped = /\uffff([0-9a-f]{4})/gu;

/** Whether `text` can go to PostgreSQL as it is. */
function storableAsIs(text: string): boolean {
  return text.isWellFormed() && !text.includes("\u0000") && !text.includes(escapeUnit);
}

/** The form of `text` that PostgreSQL accepts; `fromStorableText` turns it back into `text`. */
export function toStorableText(text: string): string {
  if (storableAsIs(text)) return text;
  return text.replace(unstorable, (unit) => escapeUnit + unit.charCodeAt(0).toString(16).padStart(4, "0"));
}

export function fromStorableText(text: string): string {
  if (!text.includes(escapeUnit)) return text;
  return text.replace(escaped, (_match, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** Applies `map` to every string of a JSON value, object keys included; returns the same value when none changed. */
function mapStrings(value: unknown, map: (text: string) => string): unknown {
  if (typeof value === "string") return map(value);
  if (Array.isArray(value)) {
    let changed = false;
    const mapped = value.map((item) => {
      const next = mapStrings(item, map);
      if (next !== item) changed = true;
      return next;
    });
    return changed ? mapped : value;
  }
  if (typeof value === "object" && value !== null) {
    let changed = false;
    const entries = Object.entries(value).map(([key, item]) => {
      const nextKey = map(key);
      const next = mapStrings(item, map);
      if (nextKey !== key || next !== item) changed = true;
      return [nextKey, next] as const;
    });
    return changed ? Object.fromEntries(entries) : value;
  }
  return value;
}

export function toStorableJson<T>(value: T): T {
  return mapStrings(value, toStorableText) as T;
}

export function fromStorableJson<T>(value: T): T {
  return mapStrings(value, fromStorableText) as T;
}

/** A `text` column whose values may hold any JavaScript string. */
export const losslessText = customType<{ data: string; driverData: string }>({
  dataType: () => "text",
  toDriver: toStorableText,
  fromDriver: fromStorableText,
});

/** A `jsonb` column whose strings (and keys) may hold any JavaScript string. */
export const losslessJsonb = customType<{ data: unknown; driverData: string }>({
  dataType: () => "jsonb",
  toDriver: (value) => JSON.stringify(toStorableJson(value)),
  // Both drivers hand jsonb over parsed; a string is parsed here, as drizzle's own jsonb column does.
  fromDriver: (value) => fromStorableJson(typeof value === "string" ? JSON.parse(value) : value),
});
