// The message the dashboard shows for a failed call: a rate-limited one says when to retry.
import { expect, test } from "vitest";
import { errorMessage } from "../../client/src/lib/errors.js";

const limited = (retryAfterMs?: number) => ({
  message: "Too many jobs: ENQUEUE_RATE_PER_MINUTE is 6000 a minute, in bursts of up to 20000 (ENQUEUE_BURST)",
  data: { code: "TOO_MANY_REQUESTS", httpStatus: 429, retryAfterMs },
});

test("a limited call says when to try again, in seconds then minutes, rounded up", () => {
  expect(errorMessage(limited(11_200))).toBe("Too many requests: try again in 12 s");
  expect(errorMessage(limited(1))).toBe("Too many requests: try again in 1 s");
  expect(errorMessage(limited(119_000))).toBe("Too many requests: try again in 119 s");
  expect(errorMessage(limited(150_000))).toBe("Too many requests: try again in 3 min");
});

test("a limited call without a wait still reads as one", () => {
  expect(errorMessage(limited())).toBe("Too many requests: try again shortly");
  expect(errorMessage({ message: "429", data: { httpStatus: 429 } })).toBe("Too many requests: try again shortly");
});

test("other errors show their own message", () => {
  expect(errorMessage({ message: "Job not found", data: { code: "NOT_FOUND", httpStatus: 404 } })).toBe(
    "Job not found",
  );
  expect(errorMessage({ message: "Failed to fetch" })).toBe("Failed to fetch");
});
