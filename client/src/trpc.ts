/**
 * The typed tRPC client: subscriptions over SSE, everything else batched and
 * streamed, both with the shared transformer. Only the AppRouter *type* comes
 * from the server.
 */
import { createTRPCClient, httpBatchStreamLink, httpSubscriptionLink, loggerLink, splitLink } from "@trpc/client";
import type { AppRouter } from "../../server/routers/_app.js";
import { transformer } from "../../shared/transformer.js";

export const trpc = createTRPCClient<AppRouter>({
  links: [
    loggerLink({ enabled: (op) => import.meta.env.DEV && op.direction === "down" && op.result instanceof Error }),
    splitLink({
      condition: (op) => op.type === "subscription",
      true: httpSubscriptionLink({ url: "/trpc", transformer }),
      false: httpBatchStreamLink({ url: "/trpc", transformer }),
    }),
  ],
});
