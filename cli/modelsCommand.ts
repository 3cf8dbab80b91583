// `medgate models register|list|set-upstream`: the model registry from the command line.
import { existsSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { z } from "zod";
import { ChampionChangeError, makeChampion, rollbackChampion } from "../db/championChanges.ts";
import {
  findChampion,
  findModelVersionByRef,
  listModelVersions,
  registerModelVersion,
  setUpstreamModel,
} from "../db/modelVersions.ts";
import { sha256OfFile } from "../inference/fileDigest.ts";
import { defineCommand } from "./commandLine.ts";
import { ConfigError, type DatabaseConfig, databaseOptions, operator, option } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

const modelsUsage = `Usage:
  medgate models register --name NAME --gguf FILE [--hf-dir DIR] [--upstream-model ID] [--champion]
      Adds a version of NAME (the name clients send in "model"). --hf-dir is the Hugging Face
      checkpoint the GGUF was made from: rounds train from it. --upstream-model is its model id on
      the upstream engines that serve NAME (a vLLM LoRA adapter name). --champion makes it the
      served version when NAME has no champion yet.
  medgate models set-upstream NAME@vN --upstream-model ID
      Names a version's upstream model id (not the champion's: promote a new version instead).
  medgate models list [--name NAME]
      Versions with status, parent, round, upstream model and GGUF sha256.
  medgate promote VERSION_ID --force --reason "…"
      Makes a version the champion without the benchmark gate (audited with the reason).
  medgate rollback NAME --reason "…"
      Returns NAME to the champion it had before the current one (audited).
Gateways following NAME switch within seconds (PostgreSQL LISTEN/NOTIFY, or their polling).`;

export const modelsCommand = defineCommand({
  usage: modelsUsage,
  options: z.object({
    name: option(z.string().optional(), { help: "The served model name", value: "NAME", env: false }),
    gguf: option(z.string().optional(), { help: "With register: the GGUF file", value: "FILE", env: false }),
    hfDir: option(z.string().optional(), {
      help: "With register: the Hugging Face checkpoint the GGUF was made from",
      value: "DIR",
      env: false,
    }),
    champion: option(z.boolean().default(false), {
      help: "With register: make it the champion of a name that has none",
      env: false,
    }),
    upstreamModel: option(z.string().min(1).optional(), {
      help: "With register and set-upstream: the version's model id on the upstream engines",
      value: "ID",
      env: false,
    }),
    ...databaseOptions,
  }),
  positionals: true,
  run: (options, [action, ref]) => models(action, ref, options, options),
});

const reason = option(z.string().optional(), { help: "Why, for the audit log", value: '"…"', env: false });

export const promoteCommand = defineCommand({
  usage: `Usage: medgate promote VERSION_ID --force --reason "…"

Makes a version the champion without the benchmark gate (audited with the reason).`,
  options: z.object({
    force: option(z.boolean().default(false), { help: "Skip the gate (required)", env: false }),
    reason,
    ...databaseOptions,
  }),
  positionals: true,
  run: ({ force, reason, ...config }, [target]) => champion("promote", { target, force, reason }, config),
});

export const rollbackCommand = defineCommand({
  usage: `Usage: medgate rollback NAME --reason "…"

Returns NAME to the champion it had before the current one (audited).`,
  options: z.object({ reason, ...databaseOptions }),
  positionals: true,
  run: ({ reason, ...config }, [target]) => champion("rollback", { target, reason }, config),
});

async function models(
  action: string | undefined,
  ref: string | undefined,
  args: { name?: string; gguf?: string; hfDir?: string; champion?: boolean; upstreamModel?: string },
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
        const version = await registerModelVersion(db, {
          name,
          ggufPath,
          ggufSha256,
          hfDir,
          upstreamModel: args.upstreamModel,
          status: "candidate",
          config: { registeredBy: `cli@${hostname()}` },
        });
        if (!args.champion) return version;
        await makeChampion(db, version.id, {
          kind: "register",
          actor: `cli@${hostname()}`,
          reason: "registered as the first champion",
        });
        return { ...version, status: "champion" as const };
      });
      console.error(`Registered ${row.name} v${row.version} (${row.status}), sha256 ${row.ggufSha256}.`);
      console.log(row.id);
      return;
    }
    case "set-upstream": {
      if (!ref || !args.upstreamModel)
        throw new ConfigError("models set-upstream needs NAME@vN and --upstream-model ID.");
      const upstreamModel = args.upstreamModel;
      const row = await withDatabase(config, async (db) => {
        const version = await findModelVersionByRef(db, ref);
        if (!version) throw new ConfigError(`No model version ${ref}.`);
        const updated = await setUpstreamModel(db, version.id, upstreamModel);
        if (!updated) {
          throw new ConfigError(
            `${version.name} v${version.version} is the champion: its route changes only by promotion (register a new version with --upstream-model and promote it).`,
          );
        }
        return updated;
      });
      console.error(`${row.name} v${row.version} has upstream model ${row.upstreamModel}.`);
      return;
    }
    case "list": {
      const rows = await withDatabase(config, (db) => listModelVersions(db, args.name));
      console.log(
        [
          "id",
          "name",
          "version",
          "status",
          "parent",
          "round",
          "upstream_model",
          "gguf_sha256",
          "created",
        ].join("\t"),
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
            row.upstreamModel ?? "-",
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

/** `medgate promote VERSION --force --reason` and `medgate rollback NAME --reason`. */
async function champion(
  action: "promote" | "rollback",
  args: { target?: string; force?: boolean; reason?: string },
  config: DatabaseConfig,
): Promise<void> {
  const { target, reason } = args;
  if (!target) throw new ConfigError(modelsUsage);
  if (!reason) throw new ConfigError(`${action} needs --reason "…": it goes into the audit log.`);
  if (
    action === "promote" &&
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu.test(target)
  ) {
    throw new ConfigError(`"${target}" is not a model version id (see \`medgate models list\`).`);
  }
  const actor = operator();
  try {
    if (action === "promote") {
      if (!args.force) {
        throw new ConfigError(
          "A candidate becomes champion by passing the gate; promote without it needs --force.",
        );
      }
      const change = await withDatabase(config, (db) =>
        makeChampion(db, target, { kind: "force-promote", actor, reason }),
      );
      console.error(`Promoted ${target} to champion of "${change.modelName}" (audit #${change.id}).`);
    } else {
      const change = await withDatabase(config, (db) => rollbackChampion(db, target, { actor, reason }));
      console.error(`Rolled "${target}" back to ${change.toVersionId} (audit #${change.id}).`);
    }
  } catch (error) {
    if (error instanceof ChampionChangeError) throw new ConfigError(error.message);
    throw error;
  }
}
