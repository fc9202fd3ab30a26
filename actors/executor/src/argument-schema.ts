import { Ajv, type ValidateFunction } from "ajv";
import { ErrorCode, TerminalError } from "@toolformer/protocol";

const ajv = new Ajv({ allErrors: true, strict: false });

/**
 * Checks arguments against a tool's JSON Schema before they leave the executor (remote and MCP tools),
 * so a violation is INVALID_ARGUMENTS with the schema's words, as for TypeScript tools. A schema that
 * does not compile is not held against the call: the tool itself decides then.
 */
export function argumentChecker(schema: Record<string, unknown>): (args: unknown) => void {
  let validate: ValidateFunction | undefined;
  try {
    validate = ajv.compile(schema);
  } catch {
    validate = undefined;
  }
  return (args) => {
    if (!validate || validate(args)) return;
    const problems = (validate.errors ?? []).map(
      (e) => `${e.instancePath || "(arguments)"} ${e.message ?? "is invalid"}`,
    );
    throw new TerminalError(ErrorCode.INVALID_ARGUMENTS, `invalid arguments: ${problems.join("; ")}`);
  };
}
