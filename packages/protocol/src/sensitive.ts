/**
 * Tool arguments a tool's JSON Schema marks sensitive (a password, a token) are replaced by
 * `REDACTED` wherever others can read them: events on `TF_EVENTS` and logs. A field is sensitive
 * when its schema has `"x-sensitive": true` (this project's keyword), `"writeOnly": true` or
 * `"format": "password"` (the standard ways to say a value must not be shown back).
 */
export const SENSITIVE_KEYWORD = "x-sensitive";
export const REDACTED = "[REDACTED]";

/** Any array item or any property name; a property literally named `*` is then over-redacted, never under. */
const ANY = "*";

/** A path from the arguments object to a sensitive value: property names, array indexes, or `*`. */
export type SensitivePath = string[];

/**
 * Pure: the paths to every value a tool's parameters schema marks sensitive. Follows `properties`,
 * `items`/`prefixItems`, `additionalProperties`, `patternProperties`, `allOf`/`anyOf`/`oneOf` and local
 * `$ref`s (`#/$defs/…`, `#/definitions/…`); a mark in any branch of a union counts.
 */
export function sensitivePaths(parameters: unknown): SensitivePath[] {
  const found: SensitivePath[] = [];
  const visit = (schema: unknown, path: string[], followed: ReadonlySet<string>): void => {
    if (!isObject(schema)) return;
    if (isSensitive(schema)) {
      found.push(path);
      return;
    }
    const ref = typeof schema.$ref === "string" ? schema.$ref : undefined;
    if (ref && !followed.has(ref)) visit(localDefinition(parameters, ref), path, new Set([...followed, ref]));
    for (const [name, inner] of Object.entries(asObject(schema.properties))) visit(inner, [...path, name], followed);
    for (const inner of Object.values(asObject(schema.patternProperties))) visit(inner, [...path, ANY], followed);
    visit(schema.additionalProperties, [...path, ANY], followed);
    if (Array.isArray(schema.prefixItems))
      schema.prefixItems.forEach((inner, i) => visit(inner, [...path, String(i)], followed));
    if (Array.isArray(schema.items)) schema.items.forEach((inner, i) => visit(inner, [...path, String(i)], followed));
    else visit(schema.items, [...path, ANY], followed);
    for (const keyword of ["allOf", "anyOf", "oneOf"] as const) {
      const branches = schema[keyword];
      if (Array.isArray(branches)) for (const branch of branches) visit(branch, path, followed);
    }
  };
  visit(parameters, [], new Set());
  return found;
}

/** Pure: a copy of `value` with what each path reaches replaced by `REDACTED`; the input is not changed. */
export function redactPaths(value: unknown, paths: readonly SensitivePath[]): unknown {
  return paths.reduce<unknown>((current, path) => redactAt(current, path), value);
}

function redactAt(value: unknown, path: readonly string[]): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return REDACTED;
  if (Array.isArray(value)) {
    return value.map((item, i) => (head === ANY || head === String(i) ? redactAt(item, rest) : item));
  }
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [key, head === ANY || head === key ? redactAt(inner, rest) : inner]),
  );
}

function isSensitive(schema: Record<string, unknown>): boolean {
  return schema[SENSITIVE_KEYWORD] === true || schema.writeOnly === true || schema.format === "password";
}

function localDefinition(root: unknown, ref: string): unknown {
  const match = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
  if (!match) return undefined;
  const name = match[2]!.replace(/~1/g, "/").replace(/~0/g, "~");
  return isObject(root) ? asObject(root[match[1]!])[name] : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asObject(value: unknown): Record<string, unknown> {
  return isObject(value) ? value : {};
}
