import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { defineTool, type TypeScriptTool } from "../define-tool.ts";
import { evaluateArithmetic } from "./arithmetic.ts";

const CONDITIONS = ["sunny", "cloudy", "rainy", "windy", "snowy"] as const;

/** Deterministic per city, so demos and tests can assert on it; no network. */
export const getWeather = defineTool({
  name: "get_weather",
  description: "Current weather for a city (simulated, deterministic).",
  parameters: z.object({ city: z.string().min(1).describe("City name, e.g. Paris") }),
  readOnly: true,
  idempotent: true,
  async run({ city }) {
    const hash = [...city.toLowerCase()].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
    return { city, temperatureC: (hash % 35) - 5, condition: CONDITIONS[hash % CONDITIONS.length] };
  },
});

export const calculator = defineTool({
  name: "calculator",
  description: "Evaluates an arithmetic expression with + - * / and parentheses.",
  parameters: z.object({ expression: z.string().min(1).max(1000) }),
  readOnly: true,
  idempotent: true,
  async run({ expression }) {
    return { expression, value: evaluateArithmetic(expression) };
  },
});

export const sleepTool = defineTool({
  name: "sleep",
  description: "Waits the given number of milliseconds, then returns; stops early when cancelled.",
  parameters: z.object({ ms: z.int().min(0).max(60_000), value: z.unknown().optional() }),
  readOnly: true,
  idempotent: true,
  async run({ ms, value }, ctx) {
    await sleep(ms, undefined, { signal: ctx.signal });
    return { sleptMs: ms, value };
  },
});

export const echo = defineTool({
  name: "echo",
  description: "Returns its argument unchanged.",
  parameters: z.object({ value: z.unknown() }),
  readOnly: true,
  idempotent: true,
  async run({ value }) {
    return value;
  },
});

export const fail = defineTool({
  name: "fail",
  description: "Always fails with the given message (to see how failures reach the model).",
  parameters: z.object({ message: z.string().default("this tool always fails") }),
  readOnly: true,
  idempotent: true,
  async run({ message }) {
    throw new Error(message);
  },
});

export const EXAMPLE_TOOLS: readonly TypeScriptTool[] = [getWeather, calculator, sleepTool, echo, fail];
