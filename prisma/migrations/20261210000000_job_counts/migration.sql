-- Jobs per owner, type and status, for stats.overview (and later metrics): a
-- count that does not grow with the jobs table. Kept by the statements that
-- change what it counts, each in a CTE of its own statement (server/lifecycle/:
-- enqueue, the worker's batch, applyTransition, the demo seed; housekeeping's
-- prunes): one upsert per (owner, type, status) per statement, adding the
-- statement's net change. A row may reach 0 and stay. A user's rows go with
-- the user, as their jobs do.
--
-- Each count is split over up to 16 stripes, summed on read: a statement adds
-- to the stripe of its transaction (its id modulo 16), so the statements in
-- flight together, whose transactions began close together, mostly write
-- different rows instead of queueing on one (a row stays locked until its
-- writer commits).
CREATE TABLE "job_counts" (
    "owner_id" UUID NOT NULL,
    "job_type" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "stripe" SMALLINT NOT NULL,
    "n" BIGINT NOT NULL,
    CONSTRAINT "job_counts_pkey" PRIMARY KEY ("owner_id", "job_type", "status", "stripe")
);
ALTER TABLE "job_counts" ADD CONSTRAINT "job_counts_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The jobs there are now.
INSERT INTO "job_counts" ("owner_id", "job_type", "status", "stripe", "n")
SELECT "owner_id", "type", "status", 0, count(*) FROM "jobs" GROUP BY 1, 2, 3;
