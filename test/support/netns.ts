/**
 * Network namespaces for tests whose traffic must not leave loopback: a
 * uniquely named namespace with nothing but `lo` (up), its own /etc/hosts, and
 * processes run inside it. They need root and iproute2; without them the tests
 * skip with a loud banner, unless REQUIRE_NETNS_TESTS=1, which makes a skip a
 * failure (CI sets it).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

let counter = 0;
const uniqueName = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Why namespaces cannot be used here, or undefined when they can (tries one). */
function unavailableBecause(): string | undefined {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "network namespaces need root";
  const probe = uniqueName("tj-probe");
  try {
    ip("netns", "add", probe);
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? (error as Error).message).trim();
    return `\`ip netns add\` failed (${stderr}); install iproute2 and run as root`;
  }
  ip("netns", "delete", probe);
  return undefined;
}

/**
 * True when the caller should skip its namespace tests: says so loudly, or
 * throws when REQUIRE_NETNS_TESTS=1 forbids skipping. Call at module level.
 */
export function skipWithoutNetns(what: string): boolean {
  const reason = unavailableBecause();
  if (!reason) return false;
  const message = `SKIPPED: ${what}: ${reason}`;
  if (process.env.REQUIRE_NETNS_TESTS === "1") throw new Error(`${message}; REQUIRE_NETNS_TESTS=1 forbids skipping`);
  // biome-ignore lint/suspicious/noConsole: the skip must be loud in the test output
  console.warn(`\n${"!".repeat(78)}\n${message}\n${"!".repeat(78)}\n`);
  return true;
}

export interface Netns {
  name: string;
  /** Runs a command inside the namespace (and its private /etc/hosts). */
  spawn: (command: string, args: string[], env: Record<string, string>) => ChildProcess;
  /** Deletes the namespace and its /etc/netns directory. */
  close: () => void;
}

/**
 * A new namespace with only `lo`, up. `hosts` lines become its /etc/hosts
 * (`ip netns exec` bind-mounts /etc/netns/NAME/hosts over /etc/hosts), so the
 * system resolver inside answers those names and no other.
 */
export function createNetns(hosts: Record<string, string> = {}): Netns {
  const name = uniqueName("tj");
  const etc = path.join("/etc/netns", name);
  ip("netns", "add", name);
  try {
    ip("-n", name, "link", "set", "lo", "up");
    fs.mkdirSync(etc, { recursive: true });
    const lines = Object.entries({ localhost: "127.0.0.1", ...hosts }).map(([host, address]) => `${address} ${host}`);
    fs.writeFileSync(path.join(etc, "hosts"), `${lines.join("\n")}\n`);
  } catch (error) {
    ip("netns", "delete", name);
    throw error;
  }
  return {
    name,
    spawn: (command, args, env) =>
      spawn("ip", ["netns", "exec", name, command, ...args], { env: { ...process.env, ...env } }),
    close: () => {
      fs.rmSync(etc, { recursive: true, force: true });
      ip("netns", "delete", name);
    },
  };
}

export interface SocketBridge {
  /** The directory holding the socket: Postgres clients take it as `host`. */
  dir: string;
  close: () => Promise<void>;
}

/**
 * A Unix socket named `fileName` that forwards each connection to a TCP
 * address in this namespace: a process inside a namespace reaches Postgres
 * through the shared file system, with no route out.
 */
export async function unixSocketBridge(fileName: string, host: string, port: number): Promise<SocketBridge> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tj-bridge-"));
  const open = new Set<net.Socket>();
  const server = net.createServer((inside) => {
    const outside = net.connect(port, host);
    open.add(inside).add(outside);
    const end = () => {
      inside.destroy();
      outside.destroy();
      open.delete(inside);
      open.delete(outside);
    };
    inside.on("error", end).on("close", end);
    outside.on("error", end).on("close", end);
    inside.pipe(outside).pipe(inside);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path.join(dir, fileName), () => resolve());
  });
  return {
    dir,
    close: () =>
      new Promise((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
