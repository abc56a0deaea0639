/**
 * The development SMTP sink: with no SMTP_URL, `npm run dev` starts this on a
 * free port (recorded in DATA_DIR/smtp-sink.json so a separate `npm run worker`
 * sends to the same sink) and stores every message in sink_messages for the UI.
 *
 * smtp-sink.json names the sink's owner. A process that borrows another's sink
 * checks every second that the owner is still alive; once it has gone, it
 * starts a sink of its own (on the same port when free, so the URL stays the
 * same), records itself as the owner, and reports the URL through `onUrl`.
 */
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { isAlive } from "../db/embedded.js";
import type { Db } from "../db/pool.js";
import type { Logger } from "../logger.js";

/** How often a borrower checks that the sink's owner is still alive. */
const WATCH_MS = 1_000;

export interface SmtpSink {
  /** Where to send now: this process's sink, or the one it borrows. */
  readonly url: string;
  stop: () => Promise<void>;
}

interface StateFile {
  port: number;
  /** The owner: the process whose sink listens on `port`. */
  pid: number;
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function readState(file: string): Promise<StateFile | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as StateFile;
  } catch {
    return undefined;
  }
}

function createServer(db: Db): SMTPServer {
  return new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    size: 30 * 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        simpleParser(raw)
          .then((mail) =>
            db.sinkMessage.create({
              data: {
                messageId: mail.messageId ?? null,
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
                to: session.envelope.rcptTo.map((r) => r.address),
                subject: mail.subject ?? null,
                text: mail.text ?? null,
                html: typeof mail.html === "string" ? mail.html : null,
                raw,
              },
            }),
          )
          // Not stored (the database away, say): 450, so the sender tries again later.
          .then(
            () => callback(),
            (error: Error) => callback(error),
          );
      });
    },
  });
}

/** Listens on `port` if it is free, else on a free port. */
async function listen(server: SMTPServer, port: number): Promise<number> {
  const attempt = (on: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      server.once("error", onError);
      server.listen(on, "127.0.0.1", () => {
        server.off("error", onError);
        const address = server.server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
  if (port === 0) return attempt(0);
  return attempt(port).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EADDRINUSE") throw error;
    return attempt(0);
  });
}

/** Reuses a sink another process of this checkout started, or starts one. */
export async function startSmtpSink(
  db: Db,
  dataDir: string,
  logger: Logger,
  options: {
    /** Called when the URL changes: a borrower took over on another port than its owner's. */
    onUrl?: (url: string) => void;
  } = {},
): Promise<SmtpSink> {
  const stateFile = path.join(dataDir, "smtp-sink.json");
  let server: SMTPServer | undefined;
  let port = 0;

  /** Borrows the sink of a live owner, or starts one here (on `preferred` if free). */
  const claim = async (preferred: number | undefined) => {
    const state = await readState(stateFile);
    if (state && isAlive(state.pid) && (await answers(state.port))) {
      port = state.port;
      return;
    }
    const own = createServer(db);
    port = await listen(own, preferred ?? state?.port ?? 0);
    // A client gone mid-message is an 'error' here: logged, never the end of this process.
    own.on("error", (error: Error) =>
      logger.debug({ err: error.message }, "development SMTP sink: a connection failed"),
    );
    server = own;
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(stateFile, JSON.stringify({ port, pid: process.pid } satisfies StateFile));
  };

  await claim(undefined);
  if (server) logger.info({ port }, "development SMTP sink listening");

  let stopped = false;
  let checking: Promise<void> | undefined;
  const check = async () => {
    if (server) return;
    const state = await readState(stateFile);
    if (state && isAlive(state.pid)) {
      if (state.port === port) return;
      port = state.port; // another process took over first, on another port
    } else {
      const previousOwner = state?.pid;
      await claim(port);
      if (stopped) return;
      if (server) logger.info({ port, previousOwner }, "took over the development SMTP sink: its owner exited");
    }
    options.onUrl?.(`smtp://127.0.0.1:${port}`);
  };
  const watch = setInterval(() => {
    if (stopped) return;
    checking ??= check()
      .catch((error: Error) => logger.warn({ err: error.message }, "could not take over the development SMTP sink"))
      .finally(() => {
        checking = undefined;
      });
  }, WATCH_MS);
  watch.unref();

  return {
    get url() {
      return `smtp://127.0.0.1:${port}`;
    },
    stop: async () => {
      stopped = true;
      clearInterval(watch);
      await checking;
      if (!server) return;
      const own = server;
      // Stop listening first, then let go of the state file: a borrower that
      // sees it gone finds the port free and takes it over.
      const closed = new Promise<void>((resolve) => own.close(() => resolve()));
      const state = await readState(stateFile);
      if (state?.pid === process.pid && state.port === port) await fs.rm(stateFile, { force: true });
      await closed;
    },
  };
}
