// The dev server's /@fs/ guard, on its own: every spelling of a protected path
// is refused, wherever DATA_DIR is (even inside a folder Vite may serve).
// test/cli/commands.test.ts checks the same against a running `npm run dev`.
import { describe, expect, test } from "vitest";
import { isProtectedFsRequest, protectedPaths } from "../../server/security/dev-files.js";

const ROOT = "/srv/app";
// DATA_DIR inside node_modules, which Vite's allow list serves: only the guard stands in the way.
const roots = protectedPaths(ROOT, `${ROOT}/node_modules/.cache/tj`, `${ROOT}/node_modules/.cache/tj/exports`);

describe("refused", () => {
  test.each([
    "/@fs/srv/app/server/app.ts",
    "/@fs/srv/app/prisma/schema.prisma",
    "/@fs/srv/app/.git/HEAD",
    "/@fs/srv/app/node_modules/.cache/tj/postgres/base/5/2688",
    "/@fs/srv/app/node_modules/%3F/../.cache/tj/postgres/PG_VERSION",
    "/@fs/srv/app/node_modules/%3f/../.cache/tj/postgres/PG_VERSION",
    "/@fs/srv/app/node_modules/%23/../.cache/tj/postgres/PG_VERSION",
    "/@fs/srv/app/client/..%2Fserver%2Fapp.ts",
    "/@fs/srv/app/client/%2e%2e/server/app.ts",
    "/@fs//srv/app/server/app.ts",
    "/@fs/srv/app/client/.env",
    "/@fs/srv/app/client/.env.local",
    "/@fs/srv/app/client/.envrc",
    "/@fs/srv/app/client/.env-local",
    "/@fs/srv/app/client/.env_production",
    "/@fs/srv/app/client/%00.ts",
    "/@fs/srv/app/client/%E0%A4%A.ts",
  ])("%s", (urlPath) => {
    expect(isProtectedFsRequest(urlPath, roots)).toBe(true);
  });
});

describe("served", () => {
  test.each([
    "/@fs/srv/app/client/src/main.tsx",
    "/@fs/srv/app/shared/jobs.ts",
    "/@fs/srv/app/node_modules/react/index.js",
    "/src/main.tsx",
  ])("%s", (urlPath) => {
    expect(isProtectedFsRequest(urlPath, roots)).toBe(false);
  });
});
