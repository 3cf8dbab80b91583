// Key lookups for ApiKeyAuth from the api_keys table: the key's role, its own limits and its storage policy.
import { findActiveApiKey, ownKeyLimits } from "../../db/apiKeys.ts";
import type { Database } from "../../db/createDatabase.ts";
import type { ApiKeyLookup } from "./ApiKeyAuth.ts";

export function databaseKeyLookup(db: Database): ApiKeyLookup {
  return async (secret) => {
    const key = await findActiveApiKey(db, secret);
    return (
      key && {
        keyId: key.id,
        name: key.name,
        role: key.role,
        limits: ownKeyLimits(key),
        storeText: key.storeText,
      }
    );
  };
}
