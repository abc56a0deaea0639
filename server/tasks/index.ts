/**
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
