// `medgate keys create|list|revoke`: API keys; a new key's secret is printed once and only its hash is kept.

import { z } from "zod";
import { createApiKey, listApiKeys, revokeApiKey } from "../db/apiKeys.ts";
import { defineCommand } from "./commandLine.ts";
import { ConfigError, type DatabaseConfig, databaseOptions, option } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

const roles = ["client", "clinician", "admin"] as const;

export const keysCommand = defineCommand({
  usage: `Usage:
  medgate keys create --role client|clinician|admin --name NAME   prints the new key's secret once
  medgate keys list                                                id, prefix, role, name, dates
  medgate keys revoke ID_OR_PREFIX

Clients chat; clinicians chat and give feedback; admins do everything, including reading logs.
Only a sha256 of each key is stored.`,
  options: z.object({
    role: option(z.string().optional(), {
      help: "The new key's role",
      value: "client|clinician|admin",
      env: false,
    }),
    name: option(z.string().optional(), {
      help: "Who or what the new key is for",
      value: "NAME",
      env: false,
    }),
    ...databaseOptions,
  }),
  positionals: true,
  run: (options, [action, target]) => keys(action, { ...options, target }, options),
});

async function keys(
  action: string | undefined,
  args: { role?: string; name?: string; target?: string },
  config: DatabaseConfig,
): Promise<void> {
  switch (action) {
    case "create": {
      const role = roles.find((candidate) => candidate === args.role);
      if (!role) throw new ConfigError(`keys create needs --role ${roles.join("|")}.`);
      if (!args.name) throw new ConfigError('keys create needs --name "…".');
      const name = args.name;
      const { key, secret } = await withDatabase(config, (db) => createApiKey(db, { name, role }));
      console.error(`Created ${key.role} key "${key.name}" (${key.id}). The secret is shown only now:`);
      console.log(secret);
      return;
    }
    case "list": {
      const keys = await withDatabase(config, (db) => listApiKeys(db));
      console.log(["id", "prefix", "role", "name", "created", "revoked"].join("\t"));
      for (const key of keys) {
        const row = [
          key.id,
          key.keyPrefix,
          key.role,
          key.name,
          key.createdAt.toISOString(),
          key.revokedAt?.toISOString() ?? "-",
        ];
        console.log(row.join("\t"));
      }
      return;
    }
    case "revoke": {
      const target = args.target;
      if (!target) throw new ConfigError("keys revoke needs the key's id or prefix.");
      const revoked = await withDatabase(config, (db) => revokeApiKey(db, target));
      if (!revoked) throw new ConfigError(`No active key has id or prefix "${target}".`);
      console.error(`Revoked ${revoked.role} key "${revoked.name}" (${revoked.id}).`);
      return;
    }
    default:
      throw new ConfigError(
        "Usage: medgate keys create --role ROLE --name NAME | keys list | keys revoke ID_OR_PREFIX",
      );
  }
}
