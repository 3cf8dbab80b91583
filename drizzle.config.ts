// drizzle-kit: generates SQL migrations in migrations/ from db/schema.ts (`npm run db:generate`).
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema.ts",
  out: "./migrations",
});
