-- Worker processes register and heartbeat; a process silent past the
-- threshold is swept: its running attempts are recorded as crashed and its
-- graphile-worker locks released. jobs.worker_process_id says which process
-- runs the current attempt.
CREATE TABLE "worker_processes" (
    "id" UUID NOT NULL,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "graphile_worker_ids" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_heartbeat_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "worker_processes_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "worker_processes_last_heartbeat_at_idx" ON "worker_processes"("last_heartbeat_at");

ALTER TABLE "jobs" ADD COLUMN "worker_process_id" UUID;
CREATE INDEX "jobs_worker_process_id_idx" ON "jobs"("worker_process_id");
