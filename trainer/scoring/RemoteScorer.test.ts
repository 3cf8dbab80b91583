import { describe, expect, it } from "vitest";
import { remoteModelOf } from "./RemoteScorer.ts";

describe("remoteModelOf", () => {
  it("asks for a version by its upstream model, else as NAME@vN", () => {
    expect(remoteModelOf({ name: "med42", version: 3, upstreamModel: null })).toBe("med42@v3");
    expect(remoteModelOf({ name: "med42", version: 3, upstreamModel: "med42-round-2" })).toBe(
      "med42-round-2",
    );
  });
});
