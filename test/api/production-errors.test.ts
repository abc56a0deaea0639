// In production no error body carries a Prisma or Postgres message (SQL, table
// names, file paths, stacks): a 500 says "Internal server error", over tRPC
// (its own handler, the hand-written enqueue and event routes) and REST. The
// database errors are real: the jobs table is renamed under the running app.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { transformer } from "../../shared/transformer.js";
import { startTestApp, type TestApp } from "../support/app.js";

/** What a database error's own words contain; none may reach a production client. */
const LEAK = /prisma|postgres|jobs_gone|relation|invocation|does not exist|\bselect\b|node_modules|\.ts:\d/i;

interface Answer {
  status: number;
  text: string;
}

async function jobsList(app: TestApp, token: string): Promise<Answer> {
  const input = encodeURIComponent(JSON.stringify(transformer.serialize({})));
  const response = await fetch(`${app.url}/trpc/jobs.list?input=${input}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, text: await response.text() };
}

async function enqueue(app: TestApp, token: string): Promise<Answer> {
  const item = { type: "email", payload: { to: "a@example.com", subject: "Hi", body: "Body" } };
  const response = await fetch(`${app.url}/trpc/jobs.enqueue`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(transformer.serialize(item)),
  });
  return { status: response.status, text: await response.text() };
}

async function restJob(app: TestApp, token: string): Promise<Answer> {
  const response = await fetch(`${app.url}/api/jobs/${randomUUID()}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, text: await response.text() };
}

/** jobs.events for one job: the stream opens, then its first event is the error. */
async function jobEvents(app: TestApp, token: string): Promise<Answer> {
  const input = encodeURIComponent(JSON.stringify(transformer.serialize({ jobId: randomUUID() })));
  const response = await fetch(`${app.url}/trpc/jobs.events?input=${input}`, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    signal: AbortSignal.timeout(10_000),
  });
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (!reader) throw new Error("no body");
  let text = "";
  try {
    while (!/event: serialized-error\ndata: .*\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const data = /event: serialized-error\ndata: (.*)\n/.exec(text)?.[1];
  const shape = data ? transformer.deserialize<{ data: { httpStatus: number } }>(JSON.parse(data)) : undefined;
  return { status: shape?.data.httpStatus ?? response.status, text };
}

const calls = { jobsList, enqueue, restJob, jobEvents };

/** An app whose jobs table is gone: every read or write of jobs is a database error. */
async function brokenApp(env: Record<string, string>) {
  const app = await startTestApp({ WORKER: "off", ...env });
  const token = await app.token("alice@example.com");
  await app.app.services.pool.query("ALTER TABLE jobs RENAME TO jobs_gone");
  return { app, token };
}

describe("NODE_ENV production", () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    ({ app, token } = await brokenApp({ NODE_ENV: "production", SMTP_URL: "smtp://127.0.0.1:2525" }));
  });
  afterAll(async () => {
    await app?.close();
  });

  test.each(Object.entries(calls))(
    "%s: a database error is a 500 with no database words in it",
    async (_name, call) => {
      const answer = await call(app, token);
      expect(answer.status).toBe(500);
      expect(answer.text).toContain("Internal server error");
      expect(answer.text).not.toMatch(LEAK);
      expect(answer.text).not.toContain("stack");
    },
  );
});

describe("NODE_ENV test (the control: the same errors, shown to a developer)", () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    ({ app, token } = await brokenApp({}));
  });
  afterAll(async () => {
    await app?.close();
  });

  test.each(Object.entries(calls).filter(([name]) => name !== "restJob"))(
    "%s: the 500 carries the database's message and a stack",
    async (_name, call) => {
      const answer = await call(app, token);
      expect(answer.status).toBe(500);
      expect(answer.text).toMatch(LEAK);
      expect(answer.text).toContain("stack");
    },
  );
});
