-- Failed password sign-ins (and attempts in progress), counted against the
-- limits in server/limits/sign-in.ts: per (account, address), per address and
-- per account. An account is its normalized email, whether or not a user has
-- it. Rows older than the longest window are deleted as attempts come in.
CREATE TABLE "sign_in_failures" (
    "id" BIGSERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "sign_in_failures_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "sign_in_failures_email_at_idx" ON "sign_in_failures"("email", "at");
CREATE INDEX "sign_in_failures_address_at_idx" ON "sign_in_failures"("address", "at");
CREATE INDEX "sign_in_failures_at_idx" ON "sign_in_failures"("at");
