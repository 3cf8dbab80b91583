// `medgate db migrate`: applies every committed migration not yet applied.
import { z } from "zod";
import { defineCommand } from "./commandLine.ts";
import { ConfigError, databaseOptions } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

export const dbCommand = defineCommand({
  usage: `Usage: medgate db migrate [options]

Applies every committed migration not yet applied (the server also does this at start).`,
  options: z.object(databaseOptions),
  positionals: true,
  async run(config, [action]) {
    if (action !== "migrate") throw new ConfigError('Usage: medgate db migrate (see "medgate db --help").');
    await withDatabase(config, async () => {});
    console.error(
      `medgate: database migrated (${config.databaseUrl ? "PostgreSQL" : `PGlite in ${config.dataDir}`}).`,
    );
  },
});
