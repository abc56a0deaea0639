/** devMail.*: the messages the development SMTP sink caught (admins, outside production). */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { authedProcedure, router } from "../trpc.js";

const adminInDevelopment = authedProcedure.use(({ ctx, next }) => {
  if (ctx.config.NODE_ENV === "production") {
    throw new TRPCError({ code: "NOT_FOUND", message: "The SMTP sink runs only in development" });
  }
  if (ctx.user.role !== "admin") throw new TRPCError({ code: "FORBIDDEN", message: "Admins only" });
  return next();
});

export const devMailRouter = router({
  list: adminInDevelopment
    .input(z.object({ limit: z.number().int().min(1).max(200).default(50) }).default({ limit: 50 }))
    .query(async ({ ctx, input }) => {
      const messages = await ctx.db.sinkMessage.findMany({ orderBy: { id: "desc" }, take: input.limit });
      return messages.map((m) => ({
        id: m.id.toString(),
        messageId: m.messageId,
        from: m.from,
        to: m.to as string[],
        subject: m.subject,
        text: m.text,
        html: m.html,
        receivedAt: m.receivedAt,
      }));
    }),
});
