import { describe, expect, it } from "vitest";
import { boundedLabel, OTHER_LABEL_VALUE } from "./bounded-labels.ts";

describe("boundedLabel", () => {
  it("keeps the first values as they are and folds later newcomers into _other", () => {
    const model = boundedLabel(2);
    expect(["a", "b", "a", "c", "b", "d"].map(model)).toEqual([
      "a",
      "b",
      "a",
      OTHER_LABEL_VALUE,
      "b",
      OTHER_LABEL_VALUE,
    ]);
  });
});
