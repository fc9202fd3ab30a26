import type { KV } from "@nats-io/kv";
import { toolRegistrationKey, type ToolDefinition, type ToolRegistration } from "@toolformer/protocol";
import { encodeInternal, whileStarting, type Logger } from "@toolformer/runtime";

/** How often hosted tools are re-announced; readers treat an entry older than 3x this as gone. */
export const REGISTRATION_REFRESH_MS = 5_000;

/**
 * Keeps this executor's tools in the catalog bucket, one key per (tool, executor). Entries are
 * refreshed on a timer rather than kept forever, so an executor that dies without cleaning up falls
 * out of the catalog by itself.
 */
export class CatalogRegistration {
  readonly #kv: KV;
  readonly #executorId: string;
  /** Calls of each tool this executor runs at once (what speculation sizes its share of capacity by). */
  readonly #capacity: number;
  readonly #log: Logger;
  readonly #definitions = new Map<string, ToolDefinition>();
  #timer: NodeJS.Timeout | undefined;

  constructor(kv: KV, executorId: string, capacity: number, log: Logger) {
    this.#kv = kv;
    this.#executorId = executorId;
    this.#capacity = capacity;
    this.#log = log;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#refreshAll(), REGISTRATION_REFRESH_MS);
  }

  /**
   * Tried again while the servers do not answer: an executor's start hosts its tools here, and one
   * write lost in an election would otherwise fail the start (as the rate limiter's once did in CI).
   */
  async add(definition: ToolDefinition): Promise<void> {
    this.#definitions.set(definition.name, definition);
    await whileStarting(() => this.#put(definition));
  }

  async remove(tool: string): Promise<void> {
    this.#definitions.delete(tool);
    await this.#kv.delete(toolRegistrationKey(tool, this.#executorId)).catch(() => undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([...this.#definitions.keys()].map((tool) => this.remove(tool)));
  }

  async #refreshAll(): Promise<void> {
    for (const definition of this.#definitions.values()) {
      await this.#put(definition).catch((error: unknown) =>
        this.#log.warn({ err: error }, "could not refresh a tool registration"),
      );
    }
  }

  async #put(definition: ToolDefinition): Promise<void> {
    const registration: ToolRegistration = {
      definition,
      executorId: this.#executorId,
      refreshedAt: Date.now(),
      capacity: this.#capacity,
    };
    await this.#kv.put(toolRegistrationKey(definition.name, this.#executorId), encodeInternal(registration));
  }
}
