// The countdown text the dashboard shows for scheduled jobs and schedules.
import { expect, test } from "vitest";
import { formatCountdown } from "../../client/src/lib/countdown.js";

test("counts down in the two largest units, and says now once due", () => {
  const now = new Date("2026-11-24T12:00:00Z");
  const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);
  expect(formatCountdown(at(-5), now)).toBe("now");
  expect(formatCountdown(at(0), now)).toBe("now");
  expect(formatCountdown(at(0.2), now)).toBe("in 1s");
  expect(formatCountdown(at(59), now)).toBe("in 59s");
  expect(formatCountdown(at(65), now)).toBe("in 1m 05s");
  expect(formatCountdown(at(2 * 3600 + 7 * 60 + 9), now)).toBe("in 2h 07m");
  expect(formatCountdown(at(3 * 86_400 + 4 * 3600 + 1), now)).toBe("in 3d 4h");
});
