/** auth.*: password sign-in that sets the tj_session cookie, sign-out, and who am I. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { issueSession, revokeToken } from "../../auth/tokens.js";
import { signInWithPassword } from "../../auth/users.js";
import { authedProcedure, publicProcedure, router } from "../trpc.js";

export const authRouter = router({
  me: publicProcedure.query(({ ctx }) => ctx.user),

  signIn: publicProcedure
    .input(z.object({ email: z.email().max(254), password: z.string().min(1).max(1000) }))
    .mutation(async ({ ctx, input }) => {
      // Throws RateLimitedError (429) when the failed-attempt limits or the derivation slots are full.
      const user = await signInWithPassword(ctx, input.email, input.password, ctx.clientAddress);
      if (!user) throw new TRPCError({ code: "UNAUTHORIZED", message: "Wrong email or password" });
      ctx.setSessionCookie(await issueSession(ctx.db, user.id));
      ctx.logger.info({ userId: user.id }, "signed in");
      return user;
    }),

  signOut: authedProcedure.mutation(async ({ ctx }) => {
    if (ctx.token) await revokeToken(ctx.db, ctx.token, ctx.tokenCache);
    ctx.setSessionCookie(undefined);
    return { ok: true as const };
  }),
});
