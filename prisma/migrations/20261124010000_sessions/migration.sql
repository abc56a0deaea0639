-- Browser sessions: a session is a token of kind 'session' with an expiry,
-- set as the tj_session cookie by auth.signIn. API tokens never expire.
ALTER TABLE "api_tokens" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'api';
ALTER TABLE "api_tokens" ADD COLUMN "expires_at" TIMESTAMPTZ(3);
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_kind_check" CHECK ("kind" IN ('api', 'session'));

-- The queue overview reads recent transitions by time.
CREATE INDEX "job_events_at_idx" ON "job_events"("at");
