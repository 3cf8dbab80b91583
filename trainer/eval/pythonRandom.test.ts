import { describe, expect, it } from "vitest";
import { PythonRandom } from "./pythonRandom.ts";

// Expected values printed by CPython 3.11: `r = random.Random(1234); r.sample(range(10), 5)` and so on.
describe("PythonRandom", () => {
  it("draws what CPython's Random(seed) draws", () => {
    const random = new PythonRandom(1234);
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    expect(random.sample(range(10), 5)).toEqual([7, 1, 0, 9, 4]);
    expect(random.sample(range(4183), 6)).toEqual([286, 687, 806, 2905, 1939, 142]);
    expect(random.sample(range(100000), 3)).toEqual([4038, 2076, 45362]);
    expect(random.sample(range(1), 1)).toEqual([0]);
    expect([random.getrandbits(32), random.getrandbits(32)]).toEqual([2644908285, 1990923381]);
  });

  it("seeds from zero and from integers wider than 32 bits as CPython does", () => {
    const zero = new PythonRandom(0);
    expect([zero.getrandbits(32), zero.getrandbits(32), zero.getrandbits(32)]).toEqual([
      3626764237, 1654615998, 3255389356,
    ]);
    const wide = new PythonRandom(2n ** 40n + 5n);
    expect([wide.getrandbits(32), wide.getrandbits(32)]).toEqual([2166296868, 2220160828]);
  });

  it("refuses a sample larger than its population", () => {
    expect(() => new PythonRandom(1).sample([1, 2], 3)).toThrow(/larger than population/u);
  });
});
