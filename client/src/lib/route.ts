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

/** The page's name, as the navigation and the tab's title say it. */
export function pageTitle(route: Route): string {
  switch (route.page) {
    case "jobs":
      return "Jobs";
    case "job":
      return `Job ${route.jobId.slice(0, 8)}`;
    case "new":
      return "New job";
    case "dlq":
      return "Dead letters";
    case "overview":
      return "Overview";
    case "mail":
      return "Mail";
    case "webhooks":
      return "Webhooks";
    case "schedules":
      return "Schedules";
    case "workflows":
      return "Workflows";
    case "workflow":
      return `Workflow ${route.workflowId.slice(0, 8)}`;
  }
}

/** document.title for a page ("Jobs · Typed Jobs"), or the app's name alone. */
export function documentTitle(page: string | undefined): string {
  return page ? `${page} · Typed Jobs` : "Typed Jobs";
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
