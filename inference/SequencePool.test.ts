// The sequence pool's lending, FIFO waiting, bounded queue and cancellation, with stand-in sequences.
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { describe, expect, it } from "vitest";
import { EngineUnavailableError, OverloadedError } from "./errors.ts";
import { SequencePool } from "./SequencePool.ts";

// The pool only hands sequences around; plain objects stand in for them.
const sequences = (count: number) =>
  Array.from({ length: count }, (_, id) => ({ id }) as unknown as LlamaContextSequence);

describe("SequencePool", () => {
  it("lends free sequences, then queues in FIFO order", async () => {
    const pool = new SequencePool(sequences(1), { maxQueue: 2 });
    const first = await pool.acquire();
    const order: string[] = [];
    const lendTo = (name: string) =>
      pool.acquire().then((sequence) => {
        order.push(name);
        return sequence;
      });
    const a = lendTo("a");
    const b = lendTo("b");
    expect(pool.stats).toEqual({ size: 1, inUse: 1, queued: 2, maxQueue: 2 });
    pool.release(first);
    const lentToA = await a;
    pool.release(lentToA);
    pool.release(await b);
    expect(order).toEqual(["a", "b"]);
    expect(pool.stats.inUse).toBe(0);
  });

  it("refuses at once with a retry hint when the queue is full", async () => {
    const pool = new SequencePool(sequences(1), { maxQueue: 0, retryAfterSeconds: 3 });
    await pool.acquire();
    const refusal = pool.acquire();
    await expect(refusal).rejects.toBeInstanceOf(OverloadedError);
    await expect(refusal).rejects.toMatchObject({ retryAfterSeconds: 3 });
  });

  it("drops a waiter whose caller gives up", async () => {
    const pool = new SequencePool(sequences(1), { maxQueue: 4 });
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort(new Error("client left"));
    await expect(waiting).rejects.toThrow("client left");
    expect(pool.stats.queued).toBe(0);
    pool.release(held);
    expect(pool.stats).toMatchObject({ inUse: 0, queued: 0 });
  });

  it("fails waiters and new requests once closed", async () => {
    const pool = new SequencePool(sequences(1), { maxQueue: 4 });
    await pool.acquire();
    const waiting = pool.acquire();
    pool.stopLending();
    await expect(waiting).rejects.toBeInstanceOf(EngineUnavailableError);
    await expect(pool.acquire()).rejects.toBeInstanceOf(EngineUnavailableError);
  });

  it("lends the free sequence whose cache holds the longest beginning of the preferred tokens", async () => {
    const holding = (tokens: number[]) => ({ contextTokens: tokens }) as unknown as LlamaContextSequence;
    const [a, b, c] = [holding([1, 2, 3, 4]), holding([1, 2, 9]), holding([])];
    const pool = new SequencePool([a, b, c], { maxQueue: 2 });
    expect(await pool.acquire(undefined, [1, 2, 9, 5] as Token[])).toBe(b);
    expect(await pool.acquire(undefined, [1, 2, 3] as Token[])).toBe(a);
    pool.release(a);
    pool.release(b);
    // Nothing shared: the last returned, as without a preference.
    expect(await pool.acquire(undefined, [7] as Token[])).toBe(b);
  });
});
