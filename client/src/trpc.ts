/**
 * The typed tRPC client and its TanStack Query bindings. Subscriptions go over
 * SSE (httpSubscriptionLink), everything else batched and streamed; both use
 * the shared transformer. Only the AppRouter *type* comes from the server.
 */
import {
  createTRPCClient,
  httpBatchStreamLink,
  httpLink,
  httpSubscriptionLink,
  loggerLink,
  splitLink,
} from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { AppRouter } from "../../server/http/routers/_app.js";
import { transformer } from "../../shared/transformer.js";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

/**
 * How the batch link splits what it sends: never near the server's
 * MAX_BATCH_CALLS (default 50; a bigger batch is refused whole), and never a
 * URL long enough for a proxy or Node's 16 KB header limit to refuse (queries
 * carry their inputs in the URL). A single call longer than the cap fails
 * without being sent.
 */
export const batchLimits = { maxItems: 25, maxURLLength: 4000 } as const;

export function makeTrpcClient() {
  return createTRPCClient<AppRouter>({
    links: [
      loggerLink({ enabled: (op) => import.meta.env.DEV && op.direction === "down" && op.result instanceof Error }),
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({ url: "/trpc", transformer }),
        // auth.* sets the session cookie: a streamed response has sent its
        // headers before the procedure finishes, so those go unbatched.
        false: splitLink({
          condition: (op) => op.path.startsWith("auth."),
          true: httpLink({ url: "/trpc", transformer }),
          false: httpBatchStreamLink({ url: "/trpc", transformer, ...batchLimits }),
        }),
      }),
    ],
  });
}

export type TrpcClient = ReturnType<typeof makeTrpcClient>;
