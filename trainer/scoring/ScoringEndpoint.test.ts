import { describe, expect, it } from "vitest";
import { rootOf } from "./ScoringEndpoint.ts";

describe("rootOf", () => {
  it("takes the server's root from a base URL with or without /v1", () => {
    expect(rootOf("http://host:8000")).toBe("http://host:8000");
    expect(rootOf("http://host:8000/")).toBe("http://host:8000");
    expect(rootOf("http://host:8000/v1")).toBe("http://host:8000");
    expect(rootOf("https://host/scoring/v1/")).toBe("https://host/scoring");
  });

  it("refuses what is not an http URL", () => {
    expect(() => rootOf("ftp://host/v1")).toThrow(/must be http or https/u);
    expect(() => rootOf("host:8000")).toThrow();
  });
});
