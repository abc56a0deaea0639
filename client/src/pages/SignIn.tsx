import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useTRPC } from "../trpc.js";

/** What a refused sign-in says; a limited one (429) says when to come back. */
function refusal(error: { message: string; data?: { code?: string; retryAfterMs?: number } | null }): string {
  const wait = error.data?.retryAfterMs;
  if (error.data?.code !== "TOO_MANY_REQUESTS" || wait === undefined) return error.message;
  const when = wait < 60_000 ? `${Math.ceil(wait / 1000)} s` : `${Math.ceil(wait / 60_000)} min`;
  return `Too many sign-in attempts: try again in ${when}`;
}

export function SignIn() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const signIn = useMutation(
    trpc.auth.signIn.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.auth.me.queryKey() }),
    }),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate({ email, password });
  };
  return (
    <main className="signin">
      <form onSubmit={submit} className="card" aria-labelledby="signin-title">
        <h1 id="signin-title">Typed Jobs</h1>
        <p className="muted">Sign in to see and start your jobs.</p>
        <label htmlFor="email">Email</label>
        <input
          id="email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {signIn.error && (
          <p className="error" role="alert">
            {refusal(signIn.error)}
          </p>
        )}
        <button type="submit" disabled={signIn.isPending}>
          {signIn.isPending ? "Signing in…" : "Sign in"}
        </button>
        <p className="muted small">
          Running <code>npm run dev</code>? It printed a demo account.
        </p>
      </form>
    </main>
  );
}
