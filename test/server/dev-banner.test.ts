// The dev banner warns when the dev server can be reached from other machines
// while it prints the demo admin's password.
import { expect, test } from "vitest";
import { devBanner, isLoopbackHost } from "../../server/dev-banner.js";

const input = {
  url: "http://localhost:3000",
  email: "demo@typed-jobs.local",
  password: "demo-password",
  token: "tj_x",
  tokenExpiresAt: new Date("2026-12-08T10:00:00.000Z"),
};

test.each(["127.0.0.1", "127.1.2.3", "localhost", "::1"])("bound to %s: no warning", (host) => {
  expect(isLoopbackHost(host)).toBe(true);
  expect(devBanner({ ...input, host })).not.toContain("WARNING");
});

test.each(["0.0.0.0", "::", "192.168.1.20", "my-laptop.local"])(
  "bound to %s: warns that anyone can sign in as the demo admin",
  (host) => {
    const banner = devBanner({ ...input, host });
    expect(banner).toContain(`WARNING: listening on ${host}`);
    expect(banner).toContain("anyone who can reach this machine");
    expect(banner).toContain("can sign in as the demo admin (demo@typed-jobs.local / demo-password)");
  },
);

test("says when the printed token expires", () => {
  expect(devBanner({ ...input, host: "127.0.0.1" })).toContain("valid until 2026-12-08T10:00:00.000Z:");
});
