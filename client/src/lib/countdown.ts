/** Time until a moment, for countdowns: "in 4m 05s", "in 2h 10m", "in 3d 4h", or "now". */
import { useEffect, useState } from "react";

export function formatCountdown(to: Date, now: Date): string {
  const seconds = Math.ceil((to.getTime() - now.getTime()) / 1000);
  if (seconds <= 0) return "now";
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d > 0) return `in ${d}d ${h}h`;
  if (h > 0) return `in ${h}h ${String(m).padStart(2, "0")}m`;
  if (m > 0) return `in ${m}m ${String(s).padStart(2, "0")}s`;
  return `in ${s}s`;
}

/** The current time, re-rendered every `intervalMs` (for countdowns). */
export function useNow(intervalMs = 1000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
