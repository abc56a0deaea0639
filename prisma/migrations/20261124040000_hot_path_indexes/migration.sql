-- Hot-path indexes: every job is inserted once and its status written at least
-- twice, and each write maintains every index on the row. Two indexes covered
-- rows that are rarely looked up: jobs by status (every row, few distinct
-- values) and by worker process (every row, NULL for all but running ones).
-- Partial indexes keep only the rows their queries ask for: running jobs by
-- worker process (the crash sweeps), and the dead-letter queue (failed, not
-- discarded) in list order. A pending or succeeded job is in neither.
DROP INDEX "jobs_status_idx";
DROP INDEX "jobs_worker_process_id_idx";
CREATE INDEX "jobs_running_worker_process_id_idx" ON "jobs" ("worker_process_id") WHERE status = 'running';
CREATE INDEX "jobs_dead_letter_idx" ON "jobs" ("created_at" DESC, "id" DESC) WHERE status = 'failed' AND discarded_at IS NULL;
