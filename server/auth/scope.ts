/** Whose rows a caller may see and change: the owner filter every scoped read and action applies. */
import type { AuthUser } from "./tokens.js";

/** Admins see every owner's rows (undefined: no filter); anyone else, their own. */
export function ownerScope(user: AuthUser): string | undefined {
  return user.role === "admin" ? undefined : user.id;
}
