// Which database errors mean "not reachable now" (a 503, retry later) and which are a row's or a query's fault.
import { describe, expect, it } from "vitest";
import { databaseUnavailable, rowRefusal } from "./databaseErrors.ts";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("database errors", () => {
  it("calls a lost, refused or shut-down connection unavailable, through drizzle's wrapping", () => {
    const wrapped = new Error("Failed query: select 1", {
      cause: new Error("Connection terminated unexpectedly"),
    });
    expect(databaseUnavailable(wrapped)).toBe(true);
    expect(databaseUnavailable(withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"))).toBe(true);
    expect(
      databaseUnavailable(withCode("terminating connection due to administrator command", "57P01")),
    ).toBe(true);
    expect(databaseUnavailable(withCode("connection failure", "08006"))).toBe(true);
  });

  it("does not call a refused row or a broken query unavailable", () => {
    const refused = withCode("null value in column violates not-null constraint", "23502");
    expect(databaseUnavailable(refused)).toBe(false);
    expect(rowRefusal(refused)?.code).toBe("23502");
    expect(databaseUnavailable(withCode('relation "completions" does not exist', "42P01"))).toBe(false);
    expect(databaseUnavailable(new Error("something else"))).toBe(false);
  });
});
