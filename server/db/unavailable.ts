/** Whether an error means "the database cannot be reached right now" (so: 503, retry later). */
const CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
  "08006",
  "08001",
]);
const MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|the database system is (starting up|shutting down)|Can't reach database/i;

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== "object" || depth > 5) return false;
  const { code, message, cause } = error as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof code === "string" && CODES.has(code)) return true;
  if (typeof message === "string" && MESSAGES.test(message)) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}
