/**
 * The text the dashboard shows for a failed call. A rate-limited one
 * (TOO_MANY_REQUESTS, with the server's error.data.retryAfterMs) says when to
 * try again instead of the server's wording; anything else shows its message.
 */
interface ShownError {
  message: string;
  data?: { code?: string; httpStatus?: number; retryAfterMs?: number } | null;
}

/** "12 s" under two minutes, else whole minutes rounded up ("3 min"). */
function wait(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  return seconds < 120 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

export function errorMessage(error: ShownError): string {
  const limited = error.data?.code === "TOO_MANY_REQUESTS" || error.data?.httpStatus === 429;
  if (!limited) return error.message;
  const retryAfterMs = error.data?.retryAfterMs;
  return typeof retryAfterMs === "number" && Number.isFinite(retryAfterMs)
    ? `Too many requests: try again in ${wait(retryAfterMs)}`
    : "Too many requests: try again shortly";
}
