/**
 * A flood of hostile requests from another process, as an abusive client would send them: half the
 * senders send gzip bombs (64 MiB of zeros, about 64 KiB on the wire), half prompts one byte over
 * their cap, each sender the next as soon as the last is answered. Run as
 * `node edge-flood.ts <natsUrl> <senders>`, with the client's credentials in the environment; prints `ready` once sending, and on SIGTERM stops and
 * prints `{"refused": {"<code>": n, ...}}` (`none`: it ran; `no reply`: none came within 30 s).
 */
import { gzipSync } from "node:zlib";
import { connect, headers } from "@nats-io/transport-node";
import { connectionOptions, natsAuthFromEnv } from "@toolformer/client";
import {
  ContentType,
  decode,
  encode,
  Header,
  OrchestrateReplySchema,
  PUBLIC_SUBJECTS,
  REQUEST_LIMITS,
} from "@toolformer/protocol";

const [natsUrl, senders] = process.argv.slice(2);
const nc = await connect(connectionOptions(natsUrl!, natsAuthFromEnv(process.env)));
const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
const oversized = encode(
  { prompt: "p".repeat(REQUEST_LIMITS.maxPromptBytes + 1), model: "fake:echo" },
  ContentType.json,
);
const refused: Record<string, number> = {};
let flooding = true;

async function sender(body: Uint8Array, gzip: boolean): Promise<void> {
  const h = headers();
  h.set(Header.contentType, ContentType.json);
  if (gzip) h.set(Header.contentEncoding, "gzip");
  while (flooding) {
    const code = await nc.request(PUBLIC_SUBJECTS.request, body, { headers: h, timeout: 30_000 }).then(
      (reply) => OrchestrateReplySchema.parse(decode(reply.data, ContentType.json)).error?.code ?? "none",
      () => "no reply",
    );
    refused[code] = (refused[code] ?? 0) + 1;
  }
}

const running = Array.from({ length: Number(senders) }, (_, i) =>
  i % 2 === 0 ? sender(bomb, true) : sender(oversized, false),
);
process.once("SIGTERM", () => {
  flooding = false;
  void Promise.all(running).then(async () => {
    await nc.close();
    process.stdout.write(`${JSON.stringify({ refused })}\n`);
  });
});
process.stdout.write("ready\n");
