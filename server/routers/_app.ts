/** The root router. Only `AppRouter` (a type) crosses to the client. */
import { router } from "../trpc.js";
import { dlqRouter } from "./dlq.js";
import { jobsRouter } from "./jobs.js";

export const appRouter = router({
  jobs: jobsRouter,
  dlq: dlqRouter,
});

export type AppRouter = typeof appRouter;
