import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { ErrorCode, RetryableError, TerminalError } from "@toolformer/protocol";
import { errorTypeOf, GenAiClientMetrics } from "./gen-ai-metrics.ts";

describe("GenAI client metrics", () => {
  it("name a failure by the provider's HTTP status, else by code or class", () => {
    const tooMany = new RetryableError(ErrorCode.PROVIDER_ERROR, "slow down", 50, { details: { status: 429 } });
    expect(errorTypeOf(tooMany)).toBe("429");
    expect(errorTypeOf(new TerminalError(ErrorCode.UNKNOWN_MODEL, "no such model"))).toBe(ErrorCode.UNKNOWN_MODEL);
    expect(errorTypeOf(new DOMException("aborted", "AbortError"))).toBe("AbortError");
    expect(errorTypeOf("a string")).toBe("_OTHER");
  });

  it("record a chat's tokens by type and its duration, with error_type only on a failure", async () => {
    const registry = new Registry();
    const metrics = new GenAiClientMetrics(registry);
    const answer = { usage: { inputTokens: 100, outputTokens: 7 } };
    expect(await metrics.timeChat("openai", "gpt-4o", async () => answer)).toBe(answer);
    const broken = new Error("broken");
    await expect(metrics.timeChat("openai", "gpt-4o", () => Promise.reject(broken))).rejects.toBe(broken);
    const text = await registry.metrics();
    const labels = 'gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o"';
    expect(text).toContain(`gen_ai_client_token_usage_sum{${labels},gen_ai_token_type="input"} 100`);
    expect(text).toContain(`gen_ai_client_token_usage_bucket{le="16",${labels},gen_ai_token_type="output"} 1`);
    expect(text).toContain(`gen_ai_client_operation_duration_seconds_count{${labels}} 1`);
    expect(text).toContain(`gen_ai_client_operation_duration_seconds_count{${labels},error_type="Error"} 1`);
  });
});
