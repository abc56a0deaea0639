// Standard Webhooks signatures: the spec's own test vector, our headers, the
// receiver's verify helper, and signing with two secrets during a rotation.
import { Webhook } from "standardwebhooks";
import { expect, test } from "vitest";
import { messageIdFor, newSecret, signatureHeader, webhookHeaders } from "../../server/webhooks/signing.js";
import { verifyWebhook } from "../../server/webhooks/verify.js";

test("the spec's vector: same secret, id, timestamp and body give the spec's signature", () => {
  const signature = signatureHeader(
    ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    "msg_p5jXN8AQM9LWM0D4loKWxJek",
    new Date(1614265330 * 1000),
    '{"test": 2432232314}',
  );
  expect(signature).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
});

test("secrets are whsec_ and at least 24 random bytes", () => {
  const secret = newSecret();
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]+$/);
  expect(Buffer.from(secret.slice("whsec_".length), "base64").length).toBeGreaterThanOrEqual(24);
  expect(newSecret()).not.toBe(secret);
});

test("a delivery's headers verify with the receiver helper; a tampered body does not", () => {
  const secret = newSecret();
  const body = JSON.stringify({ type: "order.created", timestamp: new Date().toISOString(), data: { id: 1 } });
  const headers = webhookHeaders([secret], messageIdFor("00000000-0000-4000-8000-000000000001"), new Date(), body);
  expect(headers["webhook-id"]).toBe("msg_00000000000040008000000000000001");
  expect(verifyWebhook(secret, body, headers)).toMatchObject({ type: "order.created", data: { id: 1 } });
  expect(() => verifyWebhook(secret, `${body} `, headers)).toThrow();
  expect(() => verifyWebhook(newSecret(), body, headers)).toThrow();
});

test("during a rotation both secrets sign, space-separated, and either verifies", () => {
  const [next, old] = [newSecret(), newSecret()];
  const body = '{"a":1}';
  const headers = webhookHeaders([next, old], "msg_1", new Date(), body);
  expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
  expect(() => new Webhook(next).verify(body, headers)).not.toThrow();
  expect(() => new Webhook(old).verify(body, headers)).not.toThrow();
});
