// Which database errors are the row's fault (it will be refused however often it is sent) and which are the
// connection's or the server's (the same row may go through later).

/** The error and its causes, outermost first. */
export function errorCauses(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let cause = error; cause instanceof Error && chain.length < 5; cause = cause.cause) chain.push(cause);
  return chain;
}

/**
 * The SQLSTATE and message of a refusal caused by the row itself: class 22 (data exception: a value out of
 * range, bad encoding), 23 (integrity constraint violation: a CHECK, NOT NULL or foreign key) or 54 (program
 * limit exceeded: a value nested too deep or too large). Undefined for anything else, such as a lost connection
 * (08), a server shutting down (57) or a missing table (42), which no retry of a single row can fix.
 */
export function rowRefusal(error: unknown): { code: string; message: string } | undefined {
  for (const cause of errorCauses(error)) {
    const code = String((cause as { code?: unknown }).code);
    if (/^(22|23|54)[0-9A-Z]{3}$/u.test(code)) return { code, message: cause.message.split("\n")[0]! };
  }
  return undefined;
}

const connectionErrnos = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENOTFOUND",
]);

/**
 * Whether the database could not be reached or is going away: a refused, reset or dropped connection, SQLSTATE
 * class 08 (connection exception) or 57P (operator intervention: shutdown, crash). The same query may go
 * through later.
 */
export function databaseUnavailable(error: unknown): boolean {
  return errorCauses(error).some((cause) => {
    const code = String((cause as { code?: unknown }).code);
    return (
      connectionErrnos.has(code) ||
      /^(08[0-9A-Z]{3}|57P0[1-4])$/u.test(code) ||
      /^Connection terminated|^timeout exceeded when trying to connect/u.test(cause.message)
    );
  });
}
