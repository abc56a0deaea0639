/**
 * shared/ is the isomorphic contract between server and client: job types (here), states, events, job and
 * workflow views, the transformer. Must not: import Node builtins or anything from server/ or client/.
 *
 * The job registry: the single source of truth for job types. Each type declares
 * its payload, progress and result schemas; the router, the worker and the client
 * all infer their types from here. Isomorphic: no Node or database imports.
 *
 * To add a job type: add an entry here and one task file in server/tasks/.
 */
import { z } from "zod";
import { jobStatuses } from "./states.js";

/**
 * Whether Postgres can store this text: no NUL (text and jsonb refuse it) and no
 * unpaired UTF-16 surrogate (jsonb refuses it; text would silently get U+FFFD).
 */
export function isStorableText(value: string): boolean {
  return !value.includes("\0") && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value);
}

/**
 * A free-text field Postgres can store (see isStorableText), so such input is
 * a 400 naming the field rather than a database error.
 */
export const storableText = (field: string) =>
  z.string().refine(isStorableText, {
    message: `${field} must not contain NUL characters or unpaired surrogates`,
  });

/** A header-safe line: CR or LF in an address or subject would allow header injection. */
const singleLine = (field: string) =>
  storableText(field).refine((v) => !/[\r\n]/.test(v), { message: `${field} must not contain CR or LF` });

/** Every progress report has a percent and an optional note; job types add their own fields. */
export const baseProgressSchema = z.object({
  percent: z.number().min(0).max(100),
  note: z.string().max(500).optional(),
});

export const emailJob = {
  payload: z.object({
    to: z.email().max(254).pipe(singleLine("to")),
    subject: singleLine("subject").pipe(z.string().min(1).max(998)),
    body: storableText("body").pipe(z.string().max(1_000_000)),
    html: storableText("html").pipe(z.string().max(1_000_000)).optional(),
  }),
  progress: baseProgressSchema.extend({
    stage: z.enum(["connecting", "sending", "sent"]).optional(),
  }),
  result: z.object({
    messageId: z.string(),
    accepted: z.array(z.string()),
    response: z.string(),
  }),
};

/** A point in time as the client sends it (Date or ISO string), stored as an ISO string. */
const instant = z.coerce
  .date()
  .min(new Date("0001-01-01T00:00:00.000Z"))
  .max(new Date("9999-12-31T23:59:59.999Z"))
  .transform((d) => d.toISOString());

export const exportJob = {
  payload: z.object({
    format: z.enum(["csv", "ndjson"]),
    gzip: z.boolean().optional(),
    /** Which of the caller's jobs to export (all of them by default). */
    filter: z
      .object({
        type: z
          .string()
          .max(100)
          .regex(/^[A-Za-z0-9_-]+$/, "type must be a job type name")
          .optional(),
        status: z.enum(jobStatuses).optional(),
        from: instant.optional(),
        to: instant.optional(),
      })
      .optional(),
  }),
  progress: baseProgressSchema.extend({
    rowsDone: z.number().int().min(0).optional(),
    rowsTotal: z.number().int().min(0).optional(),
  }),
  result: z.object({
    rows: z.number().int().min(0),
    bytes: z.number().int().min(0),
    /** A signed link, valid until expiresAt, that works without signing in. */
    downloadUrl: z.string(),
    expiresAt: z.iso.datetime(),
  }),
};

export const webhookJob = {
  payload: z.object({
    endpointId: z.uuid(),
    /** The event name, for example "order.created". */
    event: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9_.:-]+$/, "event may contain letters, digits and . _ : -"),
    data: z.json(),
  }),
  progress: baseProgressSchema,
  result: z.object({
    /** The HTTP status the receiver answered. */
    status: z.number().int(),
    attempts: z.number().int().min(1),
  }),
};

export const jobRegistry = {
  email: emailJob,
  export: exportJob,
  webhook: webhookJob,
} as const;

export type JobRegistry = typeof jobRegistry;
export type JobType = keyof JobRegistry;
export const jobTypes = Object.keys(jobRegistry) as [JobType, ...JobType[]];

/** A payload as stored and as handlers see it (after parsing). */
export type JobPayload<T extends JobType> = z.output<JobRegistry[T]["payload"]>;
/** A payload as a client sends it (before parsing: dates may be Date objects). */
export type JobPayloadInput<T extends JobType> = z.input<JobRegistry[T]["payload"]>;
export type JobProgress<T extends JobType> = z.infer<JobRegistry[T]["progress"]>;
export type JobResult<T extends JobType> = z.infer<JobRegistry[T]["result"]>;

export function isJobType(value: string): value is JobType {
  return Object.hasOwn(jobRegistry, value);
}

/** Idempotency keys: 1 to 255 printable ASCII characters. */
export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x20-\x7E]+$/, "idempotencyKey must be printable characters");

const enqueueOptions = {
  idempotencyKey: idempotencyKeySchema.optional(),
  // Postgres timestamps cover years 1 to 9999 here; JavaScript dates go further.
  runAt: z.coerce
    .date()
    .min(new Date("0001-01-01T00:00:00.000Z"), "runAt must be in year 1 or later")
    .max(new Date("9999-12-31T23:59:59.999Z"), "runAt must be before year 10000")
    .optional(),
  /** Lower runs first, as in graphile-worker. */
  priority: z.number().int().min(-32768).max(32767).optional(),
};

/** One enqueue request, discriminated by job type, typed from the registry. */
export type EnqueueItem = {
  [T in JobType]: {
    type: T;
    payload: JobPayloadInput<T>;
    idempotencyKey?: string | undefined;
    runAt?: Date | undefined;
    priority?: number | undefined;
  };
}[JobType];

const itemSchemas = jobTypes.map((type) =>
  z.object({ type: z.literal(type), payload: jobRegistry[type].payload, ...enqueueOptions }),
);

// zod cannot infer a union built from a runtime list, so the type comes from the
// mapped `EnqueueItem` above; both are derived from the same registry.
export const enqueueItemSchema = z.discriminatedUnion(
  "type",
  itemSchemas as unknown as [(typeof itemSchemas)[number], ...(typeof itemSchemas)[number][]],
) as unknown as z.ZodType<EnqueueItem>;

export const MAX_BATCH = 10_000;
export const enqueueManySchema = z.object({ jobs: z.array(enqueueItemSchema).min(1).max(MAX_BATCH) });
