import { readFileSync } from "node:fs";
import {
  credsAuthenticator,
  nkeyAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type ConnectionOptions,
} from "@nats-io/transport-node";
import { z } from "zod";

/**
 * How a connection proves who it is, the way NATS tools take it: a creds file (JWT and nkey seed, from
 * `nsc`), an nkey seed file, or a user and password; TLS from a CA, a client certificate and its key.
 * Files are read when connecting, so a rotated file is picked up by the next connection.
 */
export const NatsAuthSchema = z.object({
  credsFile: z.string().min(1).optional(),
  nkeySeedFile: z.string().min(1).optional(),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  tls: z
    .object({
      caFile: z.string().min(1).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
    })
    .default({}),
});
export type NatsAuth = z.input<typeof NatsAuthSchema>;

/**
 * The one set of environment variables the actors, the CLI and this client read (the names the `nats`
 * CLI uses): NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD, NATS_CA, NATS_CERT, NATS_KEY.
 */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv): NatsAuth {
  const defined = <T extends object>(value: T) =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== "")) as T;
  return {
    ...defined({
      credsFile: env.NATS_CREDS,
      nkeySeedFile: env.NATS_NKEY,
      user: env.NATS_USER,
      password: env.NATS_PASSWORD,
    }),
    tls: defined({ caFile: env.NATS_CA, certFile: env.NATS_CERT, keyFile: env.NATS_KEY }),
  };
}

/** The environment a child process needs to connect with `auth` (the inverse of `natsAuthFromEnv`). */
export function natsAuthToEnv(auth: NatsAuth): Record<string, string> {
  const entries: [string, string | undefined][] = [
    ["NATS_CREDS", auth.credsFile],
    ["NATS_NKEY", auth.nkeySeedFile],
    ["NATS_USER", auth.user],
    ["NATS_PASSWORD", auth.password],
    ["NATS_CA", auth.tls?.caFile],
    ["NATS_CERT", auth.tls?.certFile],
    ["NATS_KEY", auth.tls?.keyFile],
  ];
  return Object.fromEntries(entries.filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** Whether any credential is set (TLS alone does not say who the client is). */
export function hasCredentials(auth: NatsAuth): boolean {
  return Boolean(auth.credsFile ?? auth.nkeySeedFile ?? auth.user);
}

/** Options for `connect()`: the servers (comma-separated, `nats://` or `tls://`) and the credentials. */
export function connectionOptions(servers: string, auth: NatsAuth = {}): ConnectionOptions {
  const urls = servers.split(",").map((s) => s.trim());
  const authenticators: Authenticator[] = [];
  if (auth.credsFile) authenticators.push(credsAuthenticator(readFileSync(auth.credsFile)));
  if (auth.nkeySeedFile)
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(readFileSync(auth.nkeySeedFile, "utf8").trim())));
  if (auth.user) authenticators.push(usernamePasswordAuthenticator(auth.user, auth.password ?? ""));
  const tlsFiles = auth.tls ?? {};
  // A `tls://` URL asks for TLS even without files: the server's certificate is checked against the system CAs.
  const wantsTls = urls.some((url) => url.startsWith("tls://")) || Object.keys(tlsFiles).length > 0;
  return {
    servers: urls,
    ...(authenticators.length > 0 ? { authenticator: authenticators } : {}),
    ...(wantsTls ? { tls: { ...tlsFiles } } : {}),
  };
}
