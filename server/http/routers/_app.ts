/** The root router. Only `AppRouter` (a type) crosses to the client. */
import { router } from "../trpc.js";
import { authRouter } from "./auth.js";
import { devMailRouter } from "./dev-mail.js";
import { dlqRouter } from "./dlq.js";
import { jobsRouter } from "./jobs.js";
import { schedulesRouter } from "./schedules.js";
import { statsRouter } from "./stats.js";
import { webhooksRouter } from "./webhooks.js";
import { workflowsRouter } from "./workflows.js";

export const appRouter = router({
  auth: authRouter,
  jobs: jobsRouter,
  dlq: dlqRouter,
  stats: statsRouter,
  schedules: schedulesRouter,
  devMail: devMailRouter,
  webhooks: webhooksRouter,
  workflows: workflowsRouter,
});

export type AppRouter = typeof appRouter;
