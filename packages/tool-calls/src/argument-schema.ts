import { Ajv, type ValidateFunction } from "ajv";
import { ErrorCode, TerminalError } from "@toolformer/protocol";

const ajv = new Ajv({ allErrors: true, strict: false });

/**
 * What is wrong with arguments under a tool's JSON Schema, or undefined when nothing is. A schema that
 * does not compile finds nothing wrong: the tool itself decides then.
 */
export function argumentProblems(schema: Record<string, unknown>): (args: unknown) => string | undefined {
  let validate: ValidateFunction | undefined;
  try {
    validate = ajv.compile(schema);
  } catch {
    validate = undefined;
  }
  return (args) => {
    if (!validate || validate(args)) return undefined;
    return (validate.errors ?? [])
      .map((e) => `${e.instancePath || "(arguments)"} ${e.message ?? "is invalid"}`)
      .join("; ");
  };
}

/**
 * Checks arguments against a tool's JSON Schema before they leave the executor (remote and MCP tools),
 * so a violation is INVALID_ARGUMENTS with the schema's words, as for TypeScript tools.
 */
export function argumentChecker(schema: Record<string, unknown>): (args: unknown) => void {
  const problems = argumentProblems(schema);
  return (args) => {
    const found = problems(args);
    if (found !== undefined) throw new TerminalError(ErrorCode.INVALID_ARGUMENTS, `invalid arguments: ${found}`);
  };
}
