/** Worker processes for fault tests: the same command as `npm run worker`, in their own process group. */
import { type ChildProcess, spawn } from "node:child_process";

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  kill: (signal: NodeJS.Signals) => void;
}

export function spawnWorker(env: Record<string, string>): WorkerProcess {
  let output = "";
  const child = spawn(
    process.execPath,
    ["--max-old-space-size=128", "--max-semi-space-size=4", "--import", "tsx", "server/worker-main.ts"],
    { env: { ...process.env, LOG_LEVEL: "warn", ...env }, detached: true },
  );
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    kill: (signal) => {
      try {
        if (child.pid) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    },
  };
}
