/**
 * The shell: signed out, only the sign-in page; signed in, the navigation, the
 * live connection state and the current page.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { ConnectionBanner } from "./components/ConnectionBanner.js";
import { EventStreamProvider } from "./hooks/event-stream.js";
import { documentTitle, href, pageTitle, type Route, useRoute } from "./lib/route.js";
import { DeadLetters } from "./pages/DeadLetters.js";
import { JobDetail } from "./pages/JobDetail.js";
import { Jobs } from "./pages/Jobs.js";
import { Mail } from "./pages/Mail.js";
import { NewJob } from "./pages/NewJob.js";
import { Overview } from "./pages/Overview.js";
import { Schedules } from "./pages/Schedules.js";
import { SignIn } from "./pages/SignIn.js";
import { Webhooks } from "./pages/Webhooks.js";
import { WorkflowDetail } from "./pages/WorkflowDetail.js";
import { Workflows } from "./pages/Workflows.js";
import { useTRPC } from "./trpc.js";

const NAV: { route: Route; adminOnly?: boolean }[] = [
  { route: { page: "jobs" } },
  { route: { page: "new" } },
  { route: { page: "workflows" } },
  { route: { page: "dlq" } },
  { route: { page: "overview" } },
  { route: { page: "webhooks" } },
  { route: { page: "schedules" } },
  { route: { page: "mail" }, adminOnly: true },
];

export function App() {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  const route = useRoute();
  // Every page's tab says where it is: "<Page> · Typed Jobs"; signed out, "Sign in · Typed Jobs".
  const title = me.data ? pageTitle(route) : me.isLoading || me.error ? undefined : "Sign in";
  useEffect(() => {
    document.title = documentTitle(title);
  }, [title]);
  if (me.isLoading) return <p className="loading centered">Loading…</p>;
  if (me.error) return <p className="error centered">Cannot reach the server: {me.error.message}</p>;
  if (!me.data) return <SignIn />;
  return (
    <EventStreamProvider>
      <Shell email={me.data.email} isAdmin={me.data.role === "admin"} route={route} />
    </EventStreamProvider>
  );
}

function Shell({ email, isAdmin, route }: { email: string; isAdmin: boolean; route: Route }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const signOut = useMutation(
    trpc.auth.signOut.mutationOptions({
      onSettled: () => queryClient.resetQueries(),
    }),
  );
  const active = route.page === "job" ? "jobs" : route.page === "workflow" ? "workflows" : route.page;
  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href="#/jobs">
          Typed Jobs
        </a>
        <nav aria-label="Main">
          {NAV.filter((n) => !n.adminOnly || isAdmin).map((n) => (
            <a key={n.route.page} href={href(n.route)} aria-current={active === n.route.page ? "page" : undefined}>
              {pageTitle(n.route)}
            </a>
          ))}
        </nav>
        <div className="account">
          <span title={isAdmin ? "Admin: sees every user's jobs" : undefined}>
            {email}
            {isAdmin ? " · admin" : ""}
          </span>
          <button type="button" className="link" onClick={() => signOut.mutate()}>
            Sign out
          </button>
        </div>
      </header>
      <ConnectionBanner />
      <main>
        {route.page === "jobs" && <Jobs />}
        {route.page === "job" && <JobDetail jobId={route.jobId} />}
        {route.page === "new" && <NewJob />}
        {route.page === "dlq" && <DeadLetters />}
        {route.page === "overview" && <Overview />}
        {route.page === "mail" && <Mail />}
        {route.page === "webhooks" && <Webhooks />}
        {route.page === "schedules" && <Schedules />}
        {route.page === "workflows" && <Workflows />}
        {route.page === "workflow" && <WorkflowDetail workflowId={route.workflowId} />}
      </main>
    </div>
  );
}
