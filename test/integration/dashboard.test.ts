/** The dashboard's server without a browser (the browser suite: npm run test:browser). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard, type Dashboard, type RequestView } from "@toolformer/dashboard";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";

/** Reads the server-sent `requests` frames until one shows `requestId` with `status`. */
async function untilShown(url: string, requestId: string, status: string): Promise<RequestView> {
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended");
      buffered += value;
      const frames = buffered.split("\n\n");
      buffered = frames.pop()!;
      for (const frame of frames) {
        const data = frame.split("\n").find((line) => line.startsWith("data: "));
        const views = JSON.parse(data!.slice("data: ".length)) as RequestView[];
        const view = views.find((v) => v.requestId === requestId && v.status === status);
        if (view) return view;
      }
    }
  } finally {
    await reader.cancel();
  }
}

describe("the dashboard's server", () => {
  let env: TestEnvironment;
  let dashboard: Dashboard;
  beforeAll(async () => {
    env = await startEnvironment();
    dashboard = await startDashboard({ nc: await env.nats.connect("client") });
  });
  afterAll(async () => {
    await dashboard?.close();
    await env?.[Symbol.asyncDispose]();
  });

  it("streams a request's view, built from its events, to the page", async () => {
    const id = `dash-${Date.now()}`;
    const shown = untilShown(`${dashboard.url}api/stream`, id, "completed");
    const reply = await env.client.request({ id, prompt: "What is 21*2?", model: "fake:demo" });
    expect(reply.status).toBe("completed");
    const view = await shown;
    expect(view).toMatchObject({ model: "fake:demo", rounds: 2 });
    expect(view.calls.map((c) => c.tool).sort()).toEqual(["calculator", "get_weather", "get_weather"]);
    expect(view.calls.every((c) => c.outcome === "completed")).toBe(true);
  });

  it("refuses a cancel for what is not a request id, and a port that is taken", async () => {
    const refused = await fetch(`${dashboard.url}api/requests/${encodeURIComponent("a b")}/cancel`, { method: "POST" });
    expect(refused.status).toBe(400);
    const port = Number(new URL(dashboard.url).port);
    await expect(startDashboard({ nc: env.admin, port })).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});
