import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useJobEvents } from "../hooks/event-stream.js";
import { useTRPC } from "../trpc.js";

/** What the development SMTP sink caught: every email job's message, readable here. */
export function Mail() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const mail = useQuery(trpc.devMail.list.queryOptions({ limit: 50 }));
  const [open, setOpen] = useState<string>();
  useJobEvents((event) => {
    if (event.jobType === "email" && event.status === "succeeded") {
      void queryClient.invalidateQueries({ queryKey: trpc.devMail.list.queryKey() });
    }
  });
  return (
    <section aria-labelledby="mail-title">
      <h1 id="mail-title">Mail caught in development</h1>
      <p className="muted">With no SMTP_URL, email jobs deliver to a local SMTP sink; its messages are listed here.</p>
      {mail.isLoading ? (
        <p className="loading">Loading…</p>
      ) : mail.error ? (
        <p className="error">{mail.error.message}</p>
      ) : (mail.data ?? []).length === 0 ? (
        <div className="empty">
          <p>No messages yet. Start an email job.</p>
        </div>
      ) : (
        <ul className="mail">
          {(mail.data ?? []).map((m) => (
            <li key={m.id}>
              <button
                type="button"
                className="mail-head"
                aria-expanded={open === m.id}
                onClick={() => setOpen(open === m.id ? undefined : m.id)}
              >
                <strong>{m.subject ?? "(no subject)"}</strong>
                <span className="muted">
                  {" "}
                  to {m.to.join(", ")} · {m.receivedAt.toLocaleTimeString()}
                </span>
              </button>
              {open === m.id && (
                <div className="mail-body">
                  <p className="muted small mono">Message-ID {m.messageId}</p>
                  <pre className="code">{m.text}</pre>
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
