/**
 * server/tasks/ owns what each job type does: one file per type (email, export, webhook), the TaskDefinition
 * shape (types.ts) and the housekeeping schedules. Must not: change a job's status or events (server/lifecycle/
 * does, around each attempt; housekeeping only prunes old history), or import from jobs/ or any layer above it.
 *
 * The server side of the job registry: one task per job type. The `satisfies`
 * clause makes a job type without a task (or a task of the wrong type) a
 * compile error.
 */
import type { JobType } from "../../shared/jobs.js";
import { emailTask } from "./email.js";
import { exportTask } from "./export.js";
import type { TaskDefinition } from "./types.js";
import { webhookTask } from "./webhook.js";

export const tasks = {
  email: emailTask,
  export: exportTask,
  webhook: webhookTask,
} satisfies { [T in JobType]: TaskDefinition<T> };

export function taskFor<T extends JobType>(type: T): TaskDefinition<T> {
  return tasks[type] as TaskDefinition<T>;
}
