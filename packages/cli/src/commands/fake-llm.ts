import { runFakeLlmCli } from "@toolformer/fake-llm";

export async function runFakeLlmCommand(argv: string[]): Promise<number> {
  await runFakeLlmCli(argv);
  return 0;
}
