/**
 * A real SMTP server for tests (smtp-server on a free loopback port) that
 * records every message, and can refuse recipients to provoke permanent errors.
 */
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  envelopeTo: string[];
  mail: ParsedMail;
}

export interface TestSmtpServer {
  url: string;
  messages: ReceivedMail[];
  /** Recipients answered with 550 at RCPT TO. */
  refuse: Set<string>;
  /** Holds every message's DATA reply until the returned function is called. */
  holdData: () => () => void;
  /** Resolves when a message's DATA has started arriving. */
  dataStarted: () => Promise<void>;
  /** The next N recipients are answered with 451 (try again later). */
  deferNext: (count: number) => void;
  /** Resolves when `count` messages have arrived. */
  waitFor: (count: number, timeoutMs?: number) => Promise<ReceivedMail[]>;
  close: () => Promise<void>;
}

export async function startTestSmtpServer(): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = [];
  const refuse = new Set<string>();
  const waiters: (() => void)[] = [];
  let deferrals = 0;
  let hold: Promise<void> | undefined;
  const dataWaiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (deferrals > 0) {
        deferrals -= 1;
        callback(Object.assign(new Error("try again later"), { responseCode: 451 }));
        return;
      }
      if (refuse.has(address.address)) {
        const error = Object.assign(new Error("mailbox unavailable"), { responseCode: 550 });
        callback(error);
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      for (const wake of dataWaiters.splice(0)) wake();
      const held = hold ?? Promise.resolve();
      Promise.all([simpleParser(stream), held])
        .then(([mail]) => mail)
        .then(
          (mail) => {
            messages.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), mail });
            for (const wake of waiters.splice(0)) wake();
            callback();
          },
          (error: Error) => callback(error),
        );
    },
  });
  // Clients killed mid-session (fault tests) reset their sockets: not an error here.
  server.on("error", () => {});
  const port = await new Promise<number>((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    refuse,
    holdData: () => {
      let release = () => {};
      hold = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        hold = undefined;
        release();
      };
    },
    dataStarted: () => new Promise<void>((resolve) => dataWaiters.push(resolve)),
    deferNext: (count) => {
      deferrals = count;
    },
    waitFor: async (count, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} messages, got ${messages.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
