/**
 * A tiny hash router: #/jobs, #/jobs/<id>, #/new, #/dlq, #/overview, #/schedules,
 * #/workflows, #/workflows/<id>, #/mail, #/webhooks.
 */
import { useEffect, useState } from "react";

export type Route =
  | { page: "jobs" }
  | { page: "job"; jobId: string }
  | { page: "new" }
  | { page: "dlq" }
  | { page: "overview" }
  | { page: "mail" }
  | { page: "webhooks" }
  | { page: "schedules" }
  | { page: "workflows" }
  | { page: "workflow"; workflowId: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  switch (parts[0]) {
    case "jobs":
      return parts[1] ? { page: "job", jobId: parts[1] } : { page: "jobs" };
    case "new":
      return { page: "new" };
    case "dlq":
      return { page: "dlq" };
    case "overview":
      return { page: "overview" };
    case "mail":
      return { page: "mail" };
    case "webhooks":
      return { page: "webhooks" };
    case "schedules":
      return { page: "schedules" };
    case "workflows":
      return parts[1] ? { page: "workflow", workflowId: parts[1] } : { page: "workflows" };
    default:
      return { page: "jobs" };
  }
}

export function href(route: Route): string {
  if (route.page === "job") return `#/jobs/${route.jobId}`;
  if (route.page === "workflow") return `#/workflows/${route.workflowId}`;
  return `#/${route.page}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
