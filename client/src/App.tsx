/**
 * A first page: sign in with a token (stored in the tj_session cookie), send an
 * email job, and watch jobs change state live over jobs.events. The full
 * dashboard builds on this.
 */
import { type FormEvent, useEffect, useState } from "react";
import type { JobView } from "../../shared/job-view.js";
import { emailJob } from "../../shared/jobs.js";
import { trpc } from "./trpc.js";

const COOKIE = "tj_session";

function hasSession(): boolean {
  return document.cookie.split(";").some((c) => c.trim().startsWith(`${COOKIE}=`));
}

export function App() {
  const [signedIn, setSignedIn] = useState(hasSession);
  return signedIn ? <Jobs onSignOut={() => setSignedIn(false)} /> : <SignIn onSignIn={() => setSignedIn(true)} />;
}

function SignIn({ onSignIn }: { onSignIn: () => void }) {
  const [token, setToken] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    // biome-ignore lint/suspicious/noDocumentCookie: the interim token sign-in stores the pasted token for the API
    document.cookie = `${COOKIE}=${encodeURIComponent(token.trim())}; path=/; SameSite=Lax`;
    onSignIn();
  };
  return (
    <main style={{ fontFamily: "system-ui", maxWidth: 640, margin: "2rem auto", padding: "0 1rem" }}>
      <h1>Typed Jobs</h1>
      <form onSubmit={submit}>
        <label htmlFor="token">API token (printed by npm run dev, or npm run token -- you@example.com)</label>
        <input id="token" value={token} onChange={(e) => setToken(e.target.value)} style={{ width: "100%" }} />
        <button type="submit" disabled={!token.trim()}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function Jobs({ onSignOut }: { onSignOut: () => void }) {
  const [jobs, setJobs] = useState<JobView[]>([]);
  const [error, setError] = useState<string>();
  const [form, setForm] = useState({ to: "someone@example.com", subject: "Hello", body: "Sent by Typed Jobs" });
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});

  useEffect(() => {
    let live = true;
    const refresh = () =>
      trpc.jobs.list
        .query({ limit: 50 })
        .then((page) => live && setJobs(page.items))
        .catch((e: Error) => live && setError(e.message));
    void refresh();
    const subscription = trpc.jobs.events.subscribe(
      {},
      { onData: () => void refresh(), onError: (e) => live && setError(e.message) },
    );
    return () => {
      live = false;
      subscription.unsubscribe();
    };
  }, []);

  const send = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = emailJob.payload.safeParse(form);
    if (!parsed.success) {
      setFieldErrors(Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0]), i.message])));
      return;
    }
    setFieldErrors({});
    await trpc.jobs.enqueue.mutate({ type: "email", payload: parsed.data }).catch((e: Error) => setError(e.message));
  };

  const signOut = () => {
    // biome-ignore lint/suspicious/noDocumentCookie: clears the cookie set at sign-in
    document.cookie = `${COOKIE}=; path=/; max-age=0`;
    onSignOut();
  };

  return (
    <main style={{ fontFamily: "system-ui", maxWidth: 900, margin: "2rem auto", padding: "0 1rem" }}>
      <h1>Typed Jobs</h1>
      <button type="button" onClick={signOut}>
        Sign out
      </button>
      {error && <p role="alert">{error}</p>}
      <form onSubmit={send}>
        <h2>Send an email</h2>
        {(["to", "subject", "body"] as const).map((field) => (
          <p key={field}>
            <label htmlFor={field}>{field}</label>{" "}
            <input id={field} value={form[field]} onChange={(e) => setForm({ ...form, [field]: e.target.value })} />
            {fieldErrors[field] && <span role="alert"> {fieldErrors[field]}</span>}
          </p>
        ))}
        <button type="submit">Enqueue</button>
      </form>
      <h2>Jobs</h2>
      {jobs.length === 0 ? (
        <p>No jobs yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>id</th>
              <th>type</th>
              <th>status</th>
              <th>attempt</th>
              <th>progress</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id}>
                <td>{job.id.slice(0, 8)}</td>
                <td>{job.type}</td>
                <td>{job.status}</td>
                <td>
                  {job.attempt}/{job.maxAttempts}
                </td>
                <td>
                  <progress max={100} value={job.progress?.percent ?? (job.status === "succeeded" ? 100 : 0)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
