// `medgate keys create|update|list|revoke`: API keys, their limits and storage policy; a new key's secret is printed
// once and only its hash is kept.

import { z } from "zod";
import {
  type ApiKeyPolicy,
  createApiKey,
  type KeyLimitSetting,
  keyLimitSetting,
  listApiKeys,
  revokeApiKey,
  updateApiKey,
} from "../db/apiKeys.ts";
import type { ApiKeyRow } from "../db/schema.ts";
import { appendCommandAudit } from "./commandAudit.ts";
import { defineCommand } from "./commandLine.ts";
import { ConfigError, type DatabaseConfig, databaseOptions, option } from "./config.ts";
import { withDatabase } from "./openDatabase.ts";

const roles = ["client", "clinician", "admin"] as const;

export const keysCommand = defineCommand({
  usage: `Usage:
  medgate keys create --role client|clinician|admin --name NAME [--rpm N] [--tpm N] [--no-store-text]
                                                                   prints the new key's secret once
  medgate keys update ID_OR_PREFIX [--rpm N|none|default] [--tpm N|none|default] [--store-text|--no-store-text]
  medgate keys list                                                id, prefix, role, name, limits, dates
  medgate keys revoke ID_OR_PREFIX

Clients chat; clinicians chat and give feedback; admins do everything, including reading logs.
Only a sha256 of each key is stored. A key's limits are requests (--rpm) and generated tokens (--tpm) per
minute: a number, none (no limit) or default (its role's, set by serve's --client-rpm and the like). A key
with --no-store-text has its conversations never stored, as if each request said "store": false. Gateways
see a change within 5 s.`,
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
    rpm: option(z.string().optional(), {
      help: "Requests per minute of the key",
      value: "N|none|default",
      defaultText: "the role's",
      env: false,
    }),
    tpm: option(z.string().optional(), {
      help: "Generated tokens per minute of the key",
      value: "N|none|default",
      defaultText: "the role's",
      env: false,
    }),
    storeText: option(z.boolean().optional(), {
      help: "Store the key's conversations (the default)",
      env: false,
    }),
    noStoreText: option(z.boolean().optional(), {
      help: 'Never store the key\'s conversations, as "store": false on each request',
      env: false,
    }),
    ...databaseOptions,
  }),
  positionals: true,
  run: (options, [action, target]) => keys(action, { ...options, target }, options),
});

type KeysArgs = {
  role?: string;
  name?: string;
  target?: string;
  rpm?: string;
  tpm?: string;
  storeText?: boolean;
  noStoreText?: boolean;
};

async function keys(action: string | undefined, args: KeysArgs, config: DatabaseConfig): Promise<void> {
  switch (action) {
    case "create": {
      const role = roles.find((candidate) => candidate === args.role);
      if (!role) throw new ConfigError(`keys create needs --role ${roles.join("|")}.`);
      if (!args.name) throw new ConfigError('keys create needs --name "…".');
      const name = args.name;
      const policy = policyOf(args);
      const { key, secret } = await withDatabase(config, async (db) => {
        const created = await createApiKey(db, { name, role, ...policy });
        await appendCommandAudit(db, "medgate keys create", { query: keyAuditOf(created.key) });
        return created;
      });
      console.error(
        `Created ${key.role} key "${key.name}" (${key.id}; ${describePolicy(key)}). The secret is shown only now:`,
      );
      console.log(secret);
      return;
    }
    case "update": {
      const target = args.target;
      if (!target) throw new ConfigError("keys update needs the key's id or prefix.");
      const policy = policyOf(args);
      if (Object.keys(policy).length === 0) {
        throw new ConfigError("keys update needs --rpm, --tpm, --store-text or --no-store-text.");
      }
      const updated = await withDatabase(config, async (db) => {
        const row = await updateApiKey(db, target, policy);
        if (row) await appendCommandAudit(db, "medgate keys update", { query: keyAuditOf(row) });
        return row;
      });
      if (!updated) throw new ConfigError(`No active key has id or prefix "${target}".`);
      console.error(
        `Updated ${updated.role} key "${updated.name}" (${updated.id}): ${describePolicy(updated)}.`,
      );
      return;
    }
    case "list": {
      const keys = await withDatabase(config, (db) => listApiKeys(db));
      console.log(["id", "prefix", "role", "name", "rpm", "tpm", "text", "created", "revoked"].join("\t"));
      for (const key of keys) {
        const row = [
          key.id,
          key.keyPrefix,
          key.role,
          key.name,
          String(keyLimitSetting(key.rpmLimit)),
          String(keyLimitSetting(key.tpmLimit)),
          key.storeText ? "stored" : "not stored",
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
      const revoked = await withDatabase(config, async (db) => {
        const row = await revokeApiKey(db, target);
        if (row) await appendCommandAudit(db, "medgate keys revoke", { query: keyAuditOf(row) });
        return row;
      });
      if (!revoked) throw new ConfigError(`No active key has id or prefix "${target}".`);
      console.error(`Revoked ${revoked.role} key "${revoked.name}" (${revoked.id}).`);
      return;
    }
    default:
      throw new ConfigError(
        "Usage: medgate keys create --role ROLE --name NAME | keys update ID_OR_PREFIX --rpm N | keys list | keys revoke ID_OR_PREFIX",
      );
  }
}

/** What the audit trail records of a key created, changed or revoked (never its secret or hash). */
function keyAuditOf(key: ApiKeyRow): Record<string, unknown> {
  return {
    keyId: key.id,
    name: key.name,
    role: key.role,
    prefix: key.keyPrefix,
    rpm: keyLimitSetting(key.rpmLimit),
    tpm: keyLimitSetting(key.tpmLimit),
    storeText: key.storeText,
    revoked: key.revokedAt !== null,
  };
}

/** The limits and storage policy the flags ask for; what they leave out is left as it is. */
function policyOf(args: KeysArgs): ApiKeyPolicy {
  if (args.storeText && args.noStoreText)
    throw new ConfigError("Give --store-text or --no-store-text, not both.");
  return {
    ...(args.rpm === undefined ? {} : { requestsPerMinute: limitOf(args.rpm, "--rpm") }),
    ...(args.tpm === undefined ? {} : { tokensPerMinute: limitOf(args.tpm, "--tpm") }),
    ...(args.storeText ? { storeText: true } : args.noStoreText ? { storeText: false } : {}),
  };
}

function limitOf(text: string, flag: string): KeyLimitSetting {
  if (text === "none" || text === "default") return text;
  if (!/^\d+$/u.test(text) || Number(text) < 1 || Number(text) > 2 ** 31 - 1) {
    throw new ConfigError(
      `Invalid ${flag}: "${text}" is not a positive whole number, none (no limit) or default (the role's).`,
    );
  }
  return Number(text);
}

function describePolicy(key: ApiKeyRow): string {
  const limit = (setting: KeyLimitSetting) =>
    setting === "default" ? "the role's default" : setting === "none" ? "no limit" : String(setting);
  return [
    `requests/min: ${limit(keyLimitSetting(key.rpmLimit))}`,
    `generated tokens/min: ${limit(keyLimitSetting(key.tpmLimit))}`,
    key.storeText ? "conversations stored" : "conversations never stored",
  ].join(", ");
}
