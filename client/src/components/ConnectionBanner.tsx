/** Says when the live stream is down and being resumed, so stale figures are never silent. */
import { useEventStream } from "../hooks/event-stream.js";

export function ConnectionBanner() {
  const { connection, error, errorCode } = useEventStream();
  if (connection === "live") {
    return (
      <output className="connection connection-live" aria-live="polite">
        Live
      </output>
    );
  }
  const text = {
    connecting: "Connecting to the live stream…",
    reconnecting: "Connection lost — reconnecting; the list catches up from the last event when it is back.",
    failed:
      errorCode === "TOO_MANY_REQUESTS"
        ? "Too many open tabs: close some tabs of this app, then reload this one to get live updates."
        : `Live updates stopped: ${error ?? "unknown error"}. Reload the page to retry.`,
  }[connection];
  return (
    <div className={`connection connection-${connection}`} role="status" aria-live="polite">
      {text}
    </div>
  );
}
