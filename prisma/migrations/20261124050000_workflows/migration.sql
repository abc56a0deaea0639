-- Workflows: a declared tree of steps (server/workflows/) started with a typed
-- input. The tree lives in code; the database keeps the input, the state, and
-- one row per task step, linked to its job once the step is enqueued.
CREATE TABLE "workflows" (
    "id" UUID NOT NULL,
    "owner_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "input" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "result" JSONB,
    "error" TEXT,
    "steps_total" INTEGER NOT NULL,
    "steps_done" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),
    CONSTRAINT "workflows_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "workflows_owner_id_created_at_id_idx" ON "workflows"("owner_id", "created_at" DESC, "id" DESC);
CREATE INDEX "workflows_created_at_id_idx" ON "workflows"("created_at" DESC, "id" DESC);
ALTER TABLE "workflows" ADD CONSTRAINT "workflows_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- One row per task step. status: waiting (not yet its turn), enqueued (its job
-- says how it is doing), unbuildable (its payload could not be built) or
-- skipped (the workflow ended before its turn).
CREATE TABLE "workflow_steps" (
    "workflow_id" UUID NOT NULL,
    "path" TEXT NOT NULL,
    "job_type" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'waiting',
    "job_id" UUID,
    "error" TEXT,
    CONSTRAINT "workflow_steps_pkey" PRIMARY KEY ("workflow_id", "path")
);
CREATE UNIQUE INDEX "workflow_steps_job_id_key" ON "workflow_steps"("job_id");
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_workflow_id_fkey" FOREIGN KEY ("workflow_id") REFERENCES "workflows"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "workflow_steps" ADD CONSTRAINT "workflow_steps_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- A step's job knows its workflow, so settling it can lock the workflow first.
-- The indexes on workflow_id are partial: most jobs and events belong to no
-- workflow, and every insert would otherwise maintain an index entry for NULL.
ALTER TABLE "jobs" ADD COLUMN "workflow_id" UUID;
CREATE INDEX "jobs_workflow_id_idx" ON "jobs"("workflow_id") WHERE "workflow_id" IS NOT NULL;
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_workflow_id_fkey" FOREIGN KEY ("workflow_id") REFERENCES "workflows"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Workflow events ride on the job event stream: a row with workflow_id set and
-- no job_id (kind 'workflow').
ALTER TABLE "job_events" ALTER COLUMN "job_id" DROP NOT NULL;
ALTER TABLE "job_events" ADD COLUMN "workflow_id" UUID;
CREATE INDEX "job_events_workflow_id_idx" ON "job_events"("workflow_id") WHERE "workflow_id" IS NOT NULL;
ALTER TABLE "job_events" ADD CONSTRAINT "job_events_workflow_id_fkey" FOREIGN KEY ("workflow_id") REFERENCES "workflows"("id") ON DELETE CASCADE ON UPDATE CASCADE;
