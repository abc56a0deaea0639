// Prisma CLI configuration. Only `prisma generate` runs here (see scripts/prisma-generate.mjs);
// migrations are applied by the app itself (server/db/migrate.ts).
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost/typed_jobs" },
});
