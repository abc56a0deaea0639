/**
 * The development SMTP sink: with no SMTP_URL, `npm run dev` starts this on a
 * free port (recorded in DATA_DIR/smtp-sink.json so a separate `npm run worker`
 * sends to the same sink) and stores every message in sink_messages for the UI.
 */
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import type { Db } from "../db/pool.js";
import type { Logger } from "../logger.js";

export interface SmtpSink {
  url: string;
  stop: () => Promise<void>;
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

/** Reuses a sink another process of this checkout started, or starts one. */
export async function startSmtpSink(db: Db, dataDir: string, logger: Logger): Promise<SmtpSink> {
  const stateFile = path.join(dataDir, "smtp-sink.json");
  try {
    const state = JSON.parse(await fs.readFile(stateFile, "utf8")) as { port: number };
    if (await answers(state.port)) {
      return { url: `smtp://127.0.0.1:${state.port}`, stop: async () => {} };
    }
  } catch {
    // no sink running yet
  }
  const server = new SMTPServer({
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
          .then(
            () => callback(),
            (error: Error) => callback(error),
          );
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  await fs.mkdir(dataDir, { recursive: true });
  await fs.writeFile(stateFile, JSON.stringify({ port, pid: process.pid }));
  logger.info({ port }, "development SMTP sink listening");
  return {
    url: `smtp://127.0.0.1:${port}`,
    stop: async () => {
      await fs.rm(stateFile, { force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
