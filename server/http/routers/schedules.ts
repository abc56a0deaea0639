/** schedules.*: the recurring tasks declared in server/tasks/housekeeping.ts, with their next run. */

import { listSchedules } from "../../worker/schedules.js";
import { authedProcedure, router } from "../trpc.js";

export const schedulesRouter = router({
  list: authedProcedure.query(({ ctx }) => listSchedules(ctx.pool)),
});
