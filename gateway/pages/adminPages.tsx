// The admin dashboard at /admin: model versions and lineage, rounds with DPO curves, gate reports and answer
// evaluations as charts, each round's answers side by side, and the audit log of champion changes. Admin keys only.
import { Hono } from "hono";
import type {
  AnswerEvaluationReport,
  Estimate,
  GateReport,
  JudgeAgreementReport,
} from "../../db/gateReport.ts";
import type { ChampionChangeRow, ModelVersionRow, RoundRow } from "../../db/schema.ts";
import { auditRead } from "../audit/auditRead.ts";
import { parseOrThrow } from "../parseRequest.ts";
import { AnswersOverRounds } from "./answersOverRounds.tsx";
import { CanaryPanel } from "./canaryPanel.tsx";
import { keySession, renderPage, type SessionEnv } from "./keySession.tsx";
import { RecentAnswers } from "./recentAnswers.tsx";
import {
  answersHref,
  answersPerPage,
  RoundAnswers,
  roundAnswersCss,
  roundAnswersQuery,
} from "./roundAnswersPage.tsx";
import { RoundCurves } from "./roundCurves.tsx";
import { chartCss, ForestPlot, IntervalChart, type IntervalPoint, LineChart } from "./svgCharts.tsx";

const site = { name: "medgate admin", base: "/admin" };
const session = keySession({
  site,
  cookie: "medgate_admin",
  roles: ["admin"],
  keyLabel: "Your admin API key",
  refusal: "The dashboard needs an admin key",
});

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
const pts = (value: number) => `${value >= 0 ? "+" : ""}${(value * 100).toFixed(1)}`;

function Versions({ versions }: { versions: ModelVersionRow[] }) {
  const byId = new Map(versions.map((version) => [version.id, version]));
  return (
    <table>
      <thead>
        <tr>
          <th>name</th>
          <th>version</th>
          <th>status</th>
          <th>lineage</th>
          <th>GGUF sha256</th>
          <th>created</th>
        </tr>
      </thead>
      <tbody>
        {versions.map((version) => {
          const lineage: string[] = [];
          for (
            let at = byId.get(version.parentId ?? "");
            at && lineage.length < 10;
            at = byId.get(at.parentId ?? "")
          ) {
            lineage.push(`v${at.version}`);
          }
          return (
            <tr data-version-id={version.id}>
              <td>{version.name}</td>
              <td>{`v${version.version}`}</td>
              <td class={`status-${version.status}`}>{version.status}</td>
              <td>{lineage.length > 0 ? `← ${lineage.join(" ← ")}` : "—"}</td>
              <td>
                <code>{version.ggufSha256.slice(0, 16)}</code>
              </td>
              <td>{version.createdAt.toISOString().slice(0, 19).replace("T", " ")}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Gate({ report }: { report: GateReport }) {
  return (
    <div data-gate={report.passed ? "passed" : "failed"}>
      <p>
        <strong>{report.passed ? "Gate passed" : "Gate failed"}</strong>
        {report.candidate &&
          report.champion &&
          ` · candidate v${report.candidate.version} vs champion v${report.champion.version}`}
        {` · held-out preference accuracy ${report.heldoutPreferenceAccuracy === null ? "—" : percent(report.heldoutPreferenceAccuracy)}`}
        {` · safety ${report.safety.total - report.safety.regressions.length}/${report.safety.total} without regression`}
      </p>
      {report.reasons.length > 0 && (
        <ul>
          {report.reasons.map((reason) => (
            <li class="error">{reason}</li>
          ))}
        </ul>
      )}
      <div class="charts">
        <ForestPlot
          title="Candidate − champion accuracy, 95% paired-bootstrap interval (points)"
          rows={[...report.benchmarks, { name: "pooled", ...report.pooled }]}
          tolerance={report.policy?.benchmarkTolerance ?? 0.02}
        />
      </div>
      <table>
        <thead>
          <tr>
            <th>benchmark</th>
            <th>n</th>
            <th>champion</th>
            <th>candidate</th>
            <th>difference [95% CI] (points)</th>
            <th>McNemar b/c, p</th>
          </tr>
        </thead>
        <tbody>
          {report.benchmarks.map((row) => (
            <tr>
              <td>{row.name}</td>
              <td>{row.n}</td>
              <td>{percent(row.championAccuracy)}</td>
              <td>{percent(row.candidateAccuracy)}</td>
              <td
                class={row.passed ? "" : "error"}
              >{`${pts(row.difference)} [${pts(row.lower)}, ${pts(row.upper)}]`}</td>
              <td>{`${row.mcnemar.b}/${row.mcnemar.c}, p=${row.mcnemar.pValue.toPrecision(3)}`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Round({
  round,
  metrics,
}: {
  round: RoundRow;
  metrics: { step: number; values: Record<string, number> }[];
}) {
  const curve = (key: string) => ({
    name: key,
    points: metrics
      .filter((row) => row.values[key] !== undefined)
      .map((row) => [row.step, row.values[key]!] as [number, number]),
  });
  const { stats } = round;
  const { tuned } = stats;
  return (
    <article data-round-id={round.id} id={`round-${round.id}`}>
      <h2>
        {`${round.modelName} round ${round.number} · `}
        <span class={`state-${round.state}`}>{round.state}</span>
      </h2>
      <p class="meta">
        {`${round.createdAt.toISOString().slice(0, 19).replace("T", " ")} · ${stats.judged ? `${stats.judged.pairs} pairs by ${stats.judged.judge}` : "no pairs yet"}`}
      </p>
      {stats.judged?.agreement && <Agreement agreement={stats.judged.agreement} />}
      {round.error && <p class="error">{round.error}</p>}
      {(stats.warnings ?? []).map((warning) => (
        <p class="error">{warning}</p>
      ))}
      {tuned && tuned.curve.length > 0 && (
        <div class="charts">
          <LineChart
            title="SFT loss on clinician corrections"
            series={[{ name: "loss", points: tuned.curve.map((point) => [point.step, point.loss]) }]}
          />
        </div>
      )}
      {metrics.length > 0 && (
        <div class="charts">
          <LineChart title="DPO loss" series={[curve("loss")]} />
          <LineChart
            title="Implicit rewards"
            series={[curve("rewards/chosen"), curve("rewards/rejected"), curve("rewards/margins")]}
          />
          <LineChart title="Reward accuracy" series={[curve("rewards/accuracies")]} />
        </div>
      )}
      {stats.gate && <Gate report={stats.gate} />}
      {stats.gate?.answers && <AnswerSummary roundId={round.id} report={stats.gate.answers} />}
    </article>
  );
}

/** The gate's answer evaluation in a line, and the link to the answers side by side. */
function AnswerSummary({ roundId, report }: { roundId: string; report: AnswerEvaluationReport }) {
  const prompts = report.probeSets.reduce((sum, set) => sum + set.prompts, 0);
  const { overall } = report;
  return (
    <p data-answers={report.passed ? "passed" : "failed"}>
      <strong>{report.passed ? "Answers passed" : "Answers failed"}</strong>
      {` · ${prompts} probe prompts in ${report.probeSets.map((set) => set.name).join(", ")}`}
      {overall
        ? ` · win rate against the champion ${overall.winRate.toFixed(2)} [${overall.lower.toFixed(2)}, ${overall.upper.toFixed(2)}], length-controlled ${overall.lengthControlledWinRate.toFixed(2)}`
        : ` · not judged${report.judgeSkipped ? `: ${report.judgeSkipped}` : ""}`}
      {" · "}
      <a href={answersHref(roundId, { page: 1 })}>the answers side by side</a>
    </p>
  );
}

const estimate = (value: Estimate) =>
  value.value === null
    ? "—"
    : `${value.value.toFixed(2)} [${value.lower!.toFixed(2)}, ${value.upper!.toFixed(2)}]`;

/** The round's judge against the clinicians: the figures with their intervals, and whether it was used. */
function Agreement({ agreement }: { agreement: JudgeAgreementReport }) {
  return (
    <p
      class={agreement.used === false ? "error" : "meta"}
      data-agreement={agreement.used === false ? "refused" : "used"}
    >
      {`Judge vs clinicians on ${agreement.pairs} pairs: accuracy ${estimate(agreement.accuracy)} · kappa ${estimate(agreement.kappa)} · position consistency ${estimate(agreement.positionConsistency)} · prefers the longer answer ${estimate(agreement.lengthBias.judgeLongerShare)} (clinicians ${estimate(agreement.lengthBias.clinicianLongerShare)})`}
      {agreement.used === false && ` · not used: ${(agreement.reasons ?? []).join("; ")}`}
    </p>
  );
}

/** Each model's judge kinds' accuracy against the clinicians over its rounds, with the 95% interval. */
function AgreementOverRounds({ rounds }: { rounds: RoundRow[] }) {
  const byKind = new Map<string, IntervalPoint[]>();
  for (const round of rounds) {
    const agreement = round.stats.judged?.agreement;
    const { value, lower, upper } = agreement?.accuracy ?? { value: null, lower: null, upper: null };
    if (!agreement || value === null || lower === null || upper === null) continue;
    byKind.set(agreement.kind, [
      ...(byKind.get(agreement.kind) ?? []),
      { x: round.number, value, lower, upper },
    ]);
  }
  if (byKind.size === 0) return null;
  return (
    <div class="charts">
      <IntervalChart
        title="Judge accuracy on clinician pairs by round, 95% bootstrap interval"
        series={[...byKind].map(([name, points]) => ({ name, points: points.sort((a, b) => a.x - b.x) }))}
      />
    </div>
  );
}

function Audit({ changes, versions }: { changes: ChampionChangeRow[]; versions: ModelVersionRow[] }) {
  const label = (id: string | null) => {
    const version = versions.find((row) => row.id === id);
    return version ? `${version.name} v${version.version}` : (id ?? "—");
  };
  return (
    <table>
      <thead>
        <tr>
          <th>when</th>
          <th>change</th>
          <th>from</th>
          <th>to</th>
          <th>who</th>
          <th>why</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((change) => (
          <tr>
            <td>{change.createdAt.toISOString().slice(0, 19).replace("T", " ")}</td>
            <td>{change.kind}</td>
            <td>{label(change.fromVersionId)}</td>
            <td>{label(change.toVersionId)}</td>
            <td>{change.actor}</td>
            <td>{change.reason}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export const adminPages = new Hono<SessionEnv>()
  .use("/admin/*", session.requireSignedIn)
  .get("/admin/login", (c) => session.loginForm(c))
  .post("/admin/login", session.signIn)
  .post("/admin/logout", session.signOut)
  .get("/admin", async (c) => {
    const reader = c.get("deps").adminReader;
    const [versions, rounds, changes, answers, canaries] = await Promise.all([
      reader.versions(),
      reader.rounds(20),
      reader.changes(100),
      reader.recentCompletions(20),
      reader.canaries(10),
    ]);
    const metrics = await Promise.all(rounds.map((round) => reader.metrics(round.id)));
    // The page names recent completions (ids, models, traces) and shows rounds' gate reports.
    await auditRead(c, c.get("signedIn"), { completionIds: answers.map((row) => row.id) });
    return renderPage(
      c,
      site,
      "Models, rounds and promotions",
      <>
        <h2>Model versions</h2>
        {versions.length === 0 ? <p>No registered versions.</p> : <Versions versions={versions} />}
        <h2>Canaries</h2>
        <CanaryPanel canaries={canaries} now={new Date()} />
        <h2>Rounds</h2>
        {rounds.length === 0 ? (
          <p>No rounds yet.</p>
        ) : (
          <>
            <AgreementOverRounds rounds={rounds} />
            <AnswersOverRounds rounds={rounds} />
            <RoundCurves rounds={rounds} />
            {rounds.map((round, i) => (
              <Round round={round} metrics={metrics[i]!} />
            ))}
          </>
        )}
        <h2>Recent answers</h2>
        {answers.length === 0 ? (
          <p>No answers logged yet.</p>
        ) : (
          <RecentAnswers rows={answers} traceViewer={c.get("deps").telemetry.traceViewer} />
        )}
        <h2>Audit log</h2>
        {changes.length === 0 ? (
          <p>No champion changes yet.</p>
        ) : (
          <Audit changes={changes} versions={versions} />
        )}
      </>,
      { signedIn: c.get("signedIn"), nav: <a href="/review">Review</a>, css: chartCss },
    );
  })
  .get("/admin/rounds/:roundId/answers", async (c) => {
    const reader = c.get("deps").adminReader;
    const query = parseOrThrow(roundAnswersQuery, c.req.query());
    const options = {
      signedIn: c.get("signedIn"),
      nav: <a href="/admin">Dashboard</a>,
      css: chartCss + roundAnswersCss,
    };
    const round = await reader.round(c.req.param("roundId"));
    const report = round?.stats.gate?.answers;
    await auditRead(c, c.get("signedIn"), {
      query: { round_id: c.req.param("roundId"), ...query, found: report !== undefined },
    });
    if (!round || !report) {
      return renderPage(
        c,
        site,
        "Not found",
        <p class="error" data-not-found>
          {round
            ? `Round ${round.modelName} #${round.number} has no answer evaluation.`
            : `There is no round ${c.req.param("roundId")}.`}{" "}
          <a href="/admin">Back to the dashboard</a>
        </p>,
        { ...options, status: 404 },
      );
    }
    const { rows, total } = await reader.answers(round.id, {
      ...(query.probe_set === undefined ? {} : { probeSet: query.probe_set }),
      offset: (query.page - 1) * answersPerPage,
      limit: answersPerPage,
    });
    return renderPage(
      c,
      site,
      `${round.modelName} round ${round.number}: answers to probe prompts`,
      <RoundAnswers round={round} report={report} query={query} rows={rows} total={total} />,
      options,
    );
  });
