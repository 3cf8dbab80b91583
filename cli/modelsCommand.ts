// `medgate models register|list`: the model registry from the command line.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { findChampion, listModelVersions, registerModelVersion } from "../db/modelVersions.ts";
import { sha256OfFile } from "../inference/fileDigest.ts";
import { ConfigError, type DatabaseConfig } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

export const modelsUsage = `Usage:
  medgate models register --name NAME --gguf FILE [--hf-dir DIR] [--champion]
      Adds a version of NAME (the name clients send in "model"). --hf-dir is the Hugging Face
      checkpoint the GGUF was made from: rounds train from it. --champion makes it the served
      version when NAME has no champion yet.
  medgate models list [--name NAME]
      Versions with status, parent, round and GGUF sha256.`;

export async function modelsCommand(
  action: string | undefined,
  args: { name?: string; gguf?: string; hfDir?: string; champion?: boolean },
  config: DatabaseConfig,
): Promise<void> {
  switch (action) {
    case "register": {
      if (!args.name) throw new ConfigError("models register needs --name NAME.");
      if (!args.gguf) throw new ConfigError("models register needs --gguf FILE.");
      const ggufPath = resolve(args.gguf);
      if (!existsSync(ggufPath) || !statSync(ggufPath).isFile())
        throw new ConfigError(`No GGUF file at ${ggufPath}.`);
      const hfDir = args.hfDir ? resolve(args.hfDir) : undefined;
      if (hfDir && !existsSync(resolve(hfDir, "config.json"))) {
        throw new ConfigError(`${hfDir} is not a Hugging Face checkpoint (no config.json).`);
      }
      const name = args.name;
      const ggufSha256 = await sha256OfFile(ggufPath);
      const row = await withDatabase(config, async (db) => {
        if (args.champion && (await findChampion(db, name))) {
          throw new ConfigError(
            `"${name}" already has a champion; a new one comes from a round's gate or \`medgate promote\`.`,
          );
        }
        return registerModelVersion(db, {
          name,
          ggufPath,
          ggufSha256,
          hfDir,
          status: args.champion ? "champion" : "candidate",
          config: { registeredBy: "cli" },
        });
      });
      console.error(`Registered ${row.name} v${row.version} (${row.status}), sha256 ${row.ggufSha256}.`);
      console.log(row.id);
      return;
    }
    case "list": {
      const rows = await withDatabase(config, (db) => listModelVersions(db, args.name));
      console.log(
        ["id", "name", "version", "status", "parent", "round", "gguf_sha256", "created"].join("\t"),
      );
      for (const row of rows) {
        console.log(
          [
            row.id,
            row.name,
            row.version,
            row.status,
            row.parentId ?? "-",
            row.roundId ?? "-",
            row.ggufSha256.slice(0, 16),
            row.createdAt.toISOString(),
          ].join("\t"),
        );
      }
      return;
    }
    default:
      throw new ConfigError(modelsUsage);
  }
}
