// Text deltas handed from a running generation to its one reader: pushed as they come, read once as an async
// iterator that ends with the generation and then settles with its result.
import type { ChatDelta } from "./chatTypes.ts";

export class DeltaQueue {
  readonly #pending: ChatDelta[] = [];
  readonly #what: string;
  #wake: (() => void) | undefined;
  #ended = false;
  #iterated = false;

  /** `what` names the reader's source in the error of a second iteration. */
  constructor(what: string) {
    this.#what = what;
  }

  push(delta: ChatDelta): void {
    this.#pending.push(delta);
    this.#notify();
  }

  /** No more deltas come; the reader finishes what is queued. */
  end(): void {
    this.#ended = true;
    this.#notify();
  }

  /** Every delta, then waits for `result` (so a failed generation fails the iteration). */
  async *read(result: Promise<unknown>): AsyncGenerator<ChatDelta, void> {
    if (this.#iterated) throw new Error(`${this.#what} can be iterated once.`);
    this.#iterated = true;
    for (;;) {
      const delta = this.#pending.shift();
      if (delta) {
        yield delta;
        continue;
      }
      if (this.#ended) break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    await result;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
