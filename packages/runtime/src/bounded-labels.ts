/** What a label value beyond the bound is recorded as. */
export const OTHER_LABEL_VALUE = "_other";
/** Distinct values one label keeps before it folds newcomers into OTHER_LABEL_VALUE. */
export const DEFAULT_MAX_LABEL_VALUES = 200;

/**
 * A label whose values come from outside (model names a client sends, tenants, tool and scope names):
 * the first `maxValues` distinct values are kept as they are and any later one is recorded as
 * `_other`, so a caller inventing names cannot grow a metric's series without bound.
 */
export function boundedLabel(maxValues = DEFAULT_MAX_LABEL_VALUES): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= maxValues) return OTHER_LABEL_VALUE;
    seen.add(value);
    return value;
  };
}
