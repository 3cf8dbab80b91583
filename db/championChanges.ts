// Changing a served name's champion: one transaction switches the statuses, writes the audit row and notifies gateways.
import { and, desc, eq, sql } from "drizzle-orm";
import { appendAuditIn } from "./auditTrail.ts";
import type { Database } from "./createDatabase.ts";
import type { GateReport } from "./gateReport.ts";
import { findModelVersion, registerModelVersion } from "./modelVersions.ts";
import { type ChampionChangeRow, championChanges, type ModelVersionRow, modelVersions } from "./schema.ts";

/** The PostgreSQL NOTIFY channel gateways LISTEN on; the payload is the model name. */
export const championChannel = "medgate_champion";

export class ChampionChangeError extends Error {
  override name = "ChampionChangeError";
}

export type ChampionChange = {
  kind: "register" | "promote" | "force-promote" | "rollback";
  actor: string;
  reason: string;
  roundId?: string | null;
  gateReport?: GateReport | null;
};

/** Registers a model file as a new version of `name` and makes it the champion, audited as a registration. */
export async function registerChampion(
  db: Database,
  version: {
    name: string;
    ggufPath: string;
    ggufSha256: string;
    hfDir?: string;
    config?: Record<string, unknown>;
  },
  change: { actor: string; reason: string },
): Promise<ModelVersionRow> {
  const row = await registerModelVersion(db, { ...version, status: "candidate" });
  await makeChampion(db, row.id, { kind: "register", ...change });
  return (await findModelVersion(db, row.id))!;
}

/**
 * Makes `versionId` the champion of its name: the current champion (if any) is retired, the audit row
 * written, and gateways notified, all in one transaction. Returns the audit row.
 */
export async function makeChampion(
  db: Database,
  versionId: string,
  change: ChampionChange,
): Promise<ChampionChangeRow> {
  return db.transaction(async (tx) => {
    const [target] = await tx
      .select()
      .from(modelVersions)
      .where(eq(modelVersions.id, versionId))
      .for("update");
    if (!target) throw new ChampionChangeError(`No model version ${versionId}.`);
    if (target.status === "champion") {
      throw new ChampionChangeError(`${target.name} v${target.version} is already the champion.`);
    }
    // Locking the name's champion row serializes concurrent promotions of one name.
    const [current] = await tx
      .select()
      .from(modelVersions)
      .where(and(eq(modelVersions.name, target.name), eq(modelVersions.status, "champion")))
      .for("update");
    if (current) {
      await tx.update(modelVersions).set({ status: "retired" }).where(eq(modelVersions.id, current.id));
    }
    await tx.update(modelVersions).set({ status: "champion" }).where(eq(modelVersions.id, target.id));
    const [row] = await tx
      .insert(championChanges)
      .values({
        modelName: target.name,
        kind: change.kind,
        fromVersionId: current?.id ?? null,
        toVersionId: target.id,
        actor: change.actor,
        reason: change.reason,
        roundId: change.roundId ?? target.roundId,
        gateReport: change.gateReport ?? null,
      })
      .returning();
    await auditChampionChange(tx, row!);
    await tx.execute(sql`select pg_notify(${championChannel}, ${target.name})`);
    return row!;
  });
}

/** Marks a candidate rejected, with the audit row and the gate report that rejected it. */
export async function rejectCandidate(
  db: Database,
  versionId: string,
  change: {
    actor: string;
    reason: string;
    roundId?: string | null;
    gateReport?: GateReport | null;
  },
): Promise<ChampionChangeRow> {
  return db.transaction(async (tx) => {
    const [target] = await tx
      .select()
      .from(modelVersions)
      .where(eq(modelVersions.id, versionId))
      .for("update");
    if (!target) throw new ChampionChangeError(`No model version ${versionId}.`);
    if (target.status === "champion")
      throw new ChampionChangeError("The champion cannot be rejected; roll back instead.");
    await tx.update(modelVersions).set({ status: "rejected" }).where(eq(modelVersions.id, target.id));
    const [row] = await tx
      .insert(championChanges)
      .values({
        modelName: target.name,
        kind: "reject",
        fromVersionId: null,
        toVersionId: target.id,
        actor: change.actor,
        reason: change.reason,
        roundId: change.roundId ?? target.roundId,
        gateReport: change.gateReport ?? null,
      })
      .returning();
    await auditChampionChange(tx, row!);
    return row!;
  });
}

/** The change's row in the audit trail too, in its transaction: the trail holds every write that matters in order. */
async function auditChampionChange(
  tx: Parameters<Parameters<Database["transaction"]>[0]>[0],
  change: ChampionChangeRow,
): Promise<void> {
  await appendAuditIn(tx, {
    actorKind: "system",
    actorName: change.actor,
    role: "registry",
    action: `champion ${change.kind}`,
    query: {
      championChangeId: change.id,
      modelName: change.modelName,
      fromVersionId: change.fromVersionId,
      toVersionId: change.toVersionId,
      roundId: change.roundId,
      reason: change.reason,
    },
  });
}

/** The champion `name` had before its current one took over, from the audit log. */
export async function previousChampion(db: Database, name: string): Promise<ModelVersionRow | undefined> {
  const [current] = await db
    .select()
    .from(modelVersions)
    .where(and(eq(modelVersions.name, name), eq(modelVersions.status, "champion")));
  if (!current) return undefined;
  const [change] = await db
    .select()
    .from(championChanges)
    .where(and(eq(championChanges.modelName, name), eq(championChanges.toVersionId, current.id)))
    .orderBy(desc(championChanges.id))
    .limit(1);
  if (!change?.fromVersionId) return undefined;
  const [previous] = await db.select().from(modelVersions).where(eq(modelVersions.id, change.fromVersionId));
  return previous;
}

/** Returns `name` to its previous champion (audited as a rollback). */
export async function rollbackChampion(
  db: Database,
  name: string,
  change: { actor: string; reason: string },
): Promise<ChampionChangeRow> {
  const previous = await previousChampion(db, name);
  if (!previous) throw new ChampionChangeError(`"${name}" has no previous champion to return to.`);
  return makeChampion(db, previous.id, { kind: "rollback", ...change });
}

export async function championChangesOf(
  db: Database,
  name?: string,
  limit = 100,
): Promise<ChampionChangeRow[]> {
  return db
    .select()
    .from(championChanges)
    .where(name === undefined ? undefined : eq(championChanges.modelName, name))
    .orderBy(desc(championChanges.id))
    .limit(limit);
}
