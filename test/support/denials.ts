import { errors, type NatsConnection } from "@nats-io/transport-node";

/** The server reports a refusal before it answers the flush that follows; this covers the status queue. */
const DENIAL_WAIT_MS = 500;

/**
 * The server's own word that `subject` was refused to this connection for `operation`: it reports a
 * permission violation to the client, which nats.js turns into a status event (a core publish or a
 * subscription) or the rejection of a request.
 */
export function isDenial(error: unknown, operation: "publish" | "subscription", subject: string | RegExp): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof errors.PermissionViolationError)
      return (
        e.operation === operation && (typeof subject === "string" ? e.subject === subject : subject.test(e.subject))
      );
  }
  return false;
}

/** Resolves true once the server reports refusing `subject` for `operation`, false if it does not soon. */
export function denialReported(
  nc: NatsConnection,
  operation: "publish" | "subscription",
  subject: string,
): Promise<boolean> {
  const statuses = nc.status()[Symbol.asyncIterator]();
  const giveUpAt = Date.now() + DENIAL_WAIT_MS;
  return (async () => {
    try {
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const quiet = new Promise<undefined>(
          (resolve) => (timer = setTimeout(() => resolve(undefined), giveUpAt - Date.now())),
        );
        const next = await Promise.race([statuses.next(), quiet]);
        clearTimeout(timer);
        if (!next || next.done) return false;
        if (next.value.type === "error" && isDenial(next.value.error, operation, subject)) return true;
      }
    } finally {
      void statuses.return?.();
    }
  })();
}

/** Publishes on core NATS and tells whether the server refused it. */
export async function publishRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  const reported = denialReported(nc, "publish", subject);
  nc.publish(subject, new TextEncoder().encode("{}"));
  await nc.flush();
  return reported;
}

/** Subscribes and tells whether the server refused the subscription (it never delivers then). */
export async function subscribeRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  const reported = denialReported(nc, "subscription", subject);
  const sub = nc.subscribe(subject);
  await nc.flush();
  const refused = await reported;
  sub.unsubscribe();
  return refused;
}

/**
 * Runs a request-style operation (JetStream, KV) and tells whether the server refused its subject (a
 * pattern for subjects that carry a generated name). Any other failure is thrown.
 */
export async function requestRefused(operation: () => Promise<unknown>, subject: string | RegExp): Promise<boolean> {
  try {
    await operation();
    return false;
  } catch (error) {
    if (isDenial(error, "publish", subject)) return true;
    throw error;
  }
}

/** A raw JetStream API request (no lookups before it), refused or not. */
export function apiRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  return requestRefused(() => nc.request(subject, new TextEncoder().encode("{}"), { timeout: 2_000 }), subject);
}
