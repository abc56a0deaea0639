// Who may do what to a webhook endpoint: its owner everything; an admin may
// disable or delete another user's endpoint but not rotate its secret (the new
// secret would be shown to the admin); any other user sees NOT_FOUND.
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import type { Network } from "../../server/webhooks/network.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";

const network: Network = {
  resolve: async () => [{ address: "93.184.216.34", family: 4 }],
  connect: async () => {
    throw new Error("no deliveries in this file");
  },
};

let app: TestApp;
let owner: ReturnType<TestApp["client"]>;
let admin: ReturnType<TestApp["client"]>;
let endpoint: { id: string; secret: string };

const stored = async (id: string) =>
  (
    await app.app.services.pool.query<{ secret: string; previous_secret: string | null; disabled_at: Date | null }>(
      "SELECT secret, previous_secret, disabled_at FROM webhook_endpoints WHERE id = $1",
      [id],
    )
  ).rows[0];

beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" }, { network });
  owner = app.client(await app.token("endpoint-owner@example.com"));
  admin = app.client(await app.token("endpoint-admin@example.com", { admin: true }));
});
afterAll(() => app?.close());
beforeEach(async () => {
  endpoint = await owner.webhooks.createEndpoint.mutate({ url: "https://public.example.test/hook" });
});

test("an admin cannot rotate another user's secret: FORBIDDEN, and nothing changes", async () => {
  const before = await stored(endpoint.id);
  const error = await rejection(admin.webhooks.rotateSecret.mutate({ id: endpoint.id }));
  expect(error.data?.code).toBe("FORBIDDEN");
  expect(error.message).not.toMatch(/whsec_/);
  expect(await stored(endpoint.id)).toEqual(before);
  expect(before).toMatchObject({ secret: endpoint.secret, previous_secret: null });
});

test("the owner rotates their own secret", async () => {
  const { secret } = await owner.webhooks.rotateSecret.mutate({ id: endpoint.id });
  expect(secret).toMatch(/^whsec_/);
  expect(await stored(endpoint.id)).toMatchObject({ secret, previous_secret: endpoint.secret });
});

test("an admin rotates the secret of an endpoint of their own", async () => {
  const own = await admin.webhooks.createEndpoint.mutate({ url: "https://public.example.test/admin" });
  const { secret } = await admin.webhooks.rotateSecret.mutate({ id: own.id });
  expect(secret).not.toBe(own.secret);
});

test("an admin may still disable and delete another user's endpoint", async () => {
  expect((await admin.webhooks.disableEndpoint.mutate({ id: endpoint.id })).disabled).toBe(true);
  expect((await stored(endpoint.id))?.disabled_at).toBeInstanceOf(Date);
  await admin.webhooks.deleteEndpoint.mutate({ id: endpoint.id });
  expect(await stored(endpoint.id)).toBeUndefined();
});
