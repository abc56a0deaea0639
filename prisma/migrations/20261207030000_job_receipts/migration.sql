-- A job's receipt: what an attempt did outside the database (an email's
-- Message-ID and the server's answer), kept so that a later attempt of the same
-- job does not do it again. Written with the attempt's success, in the same
-- statement (server/lifecycle/batched-writes.ts), instead of a write of its own.
-- Replaces email_sends, whose rows become receipts.
CREATE TABLE "job_receipts" (
    "job_id" UUID NOT NULL,
    "receipt" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "job_receipts_pkey" PRIMARY KEY ("job_id")
);
ALTER TABLE "job_receipts" ADD CONSTRAINT "job_receipts_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

INSERT INTO "job_receipts" ("job_id", "receipt", "created_at")
SELECT "job_id", jsonb_build_object('messageId', "message_id", 'accepted', "accepted", 'response', "response"), "sent_at"
  FROM "email_sends";

DROP TABLE "email_sends";
