// Ids this gateway handed out recently, so feedback on an answer whose log row is not flushed yet is kept.

/** A bounded, insertion-ordered set of recent completion ids. */
export class RecentCompletionIds {
  readonly #ids = new Set<string>();
  readonly #capacity: number;

  constructor(
    /** Ids remembered; older ones are forgotten first. Default: 100000 */
    capacity = 100_000,
  ) {
    this.#capacity = capacity;
  }

  add(id: string): void {
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) this.#ids.delete(this.#ids.values().next().value!);
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }
}
