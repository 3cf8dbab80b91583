// A fixed set of context sequences handed out one request at a time, with a bounded FIFO wait queue.
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { EngineUnavailableError, OverloadedError } from "./errors.ts";

type Waiter = {
  resolve(sequence: LlamaContextSequence): void;
  reject(error: unknown): void;
  cleanup(): void;
};

export type SequencePoolStats = {
  /** Sequences in the pool. */
  size: number;
  /** Sequences lent out now. */
  inUse: number;
  /** Requests waiting for a sequence. */
  queued: number;
  /** Most requests allowed to wait. */
  maxQueue: number;
};

export class SequencePool {
  readonly #free: LlamaContextSequence[];
  readonly #waiters: Waiter[] = [];
  readonly #size: number;
  readonly #maxQueue: number;
  readonly #retryAfterSeconds: number;
  #closed = false;

  constructor(
    sequences: LlamaContextSequence[],
    options: {
      /** Most requests allowed to wait for a sequence before new ones are refused. */
      maxQueue: number;
      /** Hint given to refused clients. Default: 1 */
      retryAfterSeconds?: number;
    },
  ) {
    this.#free = [...sequences];
    this.#size = sequences.length;
    this.#maxQueue = options.maxQueue;
    this.#retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }

  get stats(): SequencePoolStats {
    return {
      size: this.#size,
      inUse: this.#size - this.#free.length,
      queued: this.#waiters.length,
      maxQueue: this.#maxQueue,
    };
  }

  /**
   * Takes a free sequence, or waits in line for one. Throws `OverloadedError` at once when the line is
   * full, and the signal's reason when the caller gives up while waiting. With `prefer`, the free sequence
   * whose KV cache holds the longest beginning of those tokens is taken (the last one returned on a tie), so a
   * request that continues an earlier one evaluates only what is new.
   */
  acquire(signal?: AbortSignal, prefer?: readonly Token[]): Promise<LlamaContextSequence> {
    if (this.#closed) return Promise.reject(new EngineUnavailableError("The model is shutting down."));
    signal?.throwIfAborted();
    const free = prefer ? this.#takeHolding(prefer) : this.#free.pop();
    if (free) return Promise.resolve(free);
    if (this.#waiters.length >= this.#maxQueue) {
      return Promise.reject(
        new OverloadedError(
          `All ${this.#size} sequences are busy and ${this.#waiters.length} requests are already waiting. Retry shortly.`,
          this.#retryAfterSeconds,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #takeHolding(tokens: readonly Token[]): LlamaContextSequence | undefined {
    let best = this.#free.length - 1;
    let bestLength = -1;
    for (let i = this.#free.length - 1; i >= 0; i--) {
      const held = this.#free[i]!.contextTokens;
      let length = 0;
      while (length < held.length && length < tokens.length && held[length] === tokens[length]) length++;
      if (length > bestLength) {
        best = i;
        bestLength = length;
      }
    }
    return best < 0 ? undefined : this.#free.splice(best, 1)[0];
  }

  /** Returns a sequence: the longest waiter gets it, or it goes back to the free list. */
  release(sequence: LlamaContextSequence): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.cleanup();
      waiter.resolve(sequence);
      return;
    }
    this.#free.push(sequence);
    if (this.#free.length === this.#size) for (const idle of this.#idleWaiters.splice(0)) idle();
  }

  readonly #idleWaiters: (() => void)[] = [];

  /** Resolves once no sequence is lent and nobody waits (at once if that is so now). */
  whenIdle(): Promise<void> {
    if (this.#free.length === this.#size && this.#waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Refuses new work and fails everyone still waiting. Lent sequences come back through `release`. */
  stopLending(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.cleanup();
      waiter.reject(new EngineUnavailableError("The model is shutting down."));
    }
  }
}
