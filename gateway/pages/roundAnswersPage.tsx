// A round's answers page (/admin/rounds/{round_id}/answers): the gate's probe prompts with the champion's and the
// candidate's answers side by side, each check's result on each answer and the answer judge's verdict in both
// orders, a page at a time. Every text reaches the HTML as an escaped JSX text node.
import { z } from "zod";
import type { AnswerEvaluationReport, AnswerJudgeReport } from "../../db/gateReport.ts";
import type { RoundAnswerRow, RoundRow } from "../../db/schema.ts";

/** Answers (prompt × sample) on one page. */
export const answersPerPage = 25;

/** The page's query: which page, and optionally one probe set's answers only. */
export const roundAnswersQuery = z.object({
  page: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(1)
    .meta({ description: `The page, ${answersPerPage} answers each. Default: 1` }),
  probe_set: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/u)
    .optional()
    .meta({ description: "Only this probe set's answers (`heldout`, or a name in the gate config)." }),
});

export type RoundAnswersQuery = z.infer<typeof roundAnswersQuery>;

export const roundAnswersCss = `
.role{font-weight:600;text-transform:capitalize;color:#1f4e79}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.2rem 0 .4rem}
.answer{background:#eef5ee;border-left:4px solid #3c8d40;padding:.4rem .6rem;border-radius:4px}
table.answers td{width:30%}table.answers td.verdict{width:10%}
ul.checks{list-style:none;margin:.2rem 0;padding:0;font-size:.8rem}
.pass{color:#2e8b57}.fail{color:#c0392b;font-weight:600}
.verdict-win{color:#2e8b57;font-weight:600}.verdict-loss{color:#c0392b;font-weight:600}
.pager{display:flex;gap:1rem;align-items:center;margin:.75rem 0}
`;

const fixed = (value: number) => value.toFixed(2);
const percent = (value: number) => `${Math.round(value * 100)}%`;

const judged = (report: AnswerJudgeReport | null) =>
  report
    ? `win/tie/loss ${report.wins}/${report.ties}/${report.losses} · win rate ${fixed(report.winRate)} [${fixed(report.lower)}, ${fixed(report.upper)}] · length-controlled ${fixed(report.lengthControlledWinRate)}`
    : "not judged";

/** Per probe set: the prompts, the lengths, each check's passes and the judge's figures, with a link to its answers. */
function ProbeSets({ round, report }: { round: RoundRow; report: AnswerEvaluationReport }) {
  return (
    <table data-probe-sets>
      <thead>
        <tr>
          <th>probe set</th>
          <th>prompts</th>
          <th>mean characters; stopped before the token limit (champion → candidate)</th>
          <th>checks: passes (champion → candidate), gained/lost, McNemar p</th>
          <th>answer judge</th>
        </tr>
      </thead>
      <tbody>
        {report.probeSets.map((set) => (
          <tr data-probe-set={set.name}>
            <td>
              <a href={answersHref(round.id, { page: 1, probe_set: set.name })}>{set.name}</a>
              {set.path && <div class="meta">{set.path}</div>}
            </td>
            <td>
              {set.prompts}
              {set.trainedOn > 0 && <div class="meta">{`${set.trainedOn} left out: trained on`}</div>}
            </td>
            <td>
              {`${Math.round(set.meanChars.champion)} → ${Math.round(set.meanChars.candidate)}`}
              <div class="meta">{`stopped ${percent(set.stopped.champion)} → ${percent(set.stopped.candidate)}`}</div>
            </td>
            <td>
              {set.checks.length === 0
                ? "—"
                : set.checks.map((check) => (
                    <div class={check.regressed ? "fail" : ""}>
                      {`${check.name}: ${check.championPassed}/${check.n} → ${check.candidatePassed}/${check.n}, ${check.mcnemar.b}/${check.mcnemar.c}, p=${check.mcnemar.pValue.toPrecision(3)}${check.regressed ? " · regressed" : ""}`}
                    </div>
                  ))}
            </td>
            <td>{judged(set.judge)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export const answersHref = (roundId: string, query: RoundAnswersQuery) =>
  `/admin/rounds/${roundId}/answers?${new URLSearchParams({
    ...(query.probe_set === undefined ? {} : { probe_set: query.probe_set }),
    page: String(query.page),
  })}`;

function Answer({
  text,
  finishReason,
  checks,
}: {
  text: string;
  finishReason: string;
  checks: { name: string; passed: boolean }[];
}) {
  const words = text.split(/\s+/u).filter((word) => word !== "").length;
  return (
    <>
      <div class="text answer">{text}</div>
      <div class="meta">{`${words} words · ${finishReason === "length" ? "cut at the token limit" : finishReason}`}</div>
      {checks.length > 0 && (
        <ul class="checks">
          {checks.map((check) => (
            <li
              data-check={check.name}
              data-passed={String(check.passed)}
              class={check.passed ? "pass" : "fail"}
            >
              {`${check.passed ? "✓ passes" : "✗ fails"} ${check.name}`}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

const verdictText = { win: "candidate better", tie: "tie", loss: "champion better" } as const;
const probability = (value: number | null) => (value === null ? "—" : fixed(value));

/** Where a prompt came from: its line in the probe set's file (whose path heads the page), a probe id, a round prompt. */
function sourceOf(row: RoundAnswerRow, report: AnswerEvaluationReport): string {
  const path = report.probeSets.find((set) => set.name === row.probeSet)?.path;
  return path !== undefined && row.source.startsWith(`${path}:`)
    ? `line ${row.source.slice(path.length + 1)}`
    : row.source;
}

function AnswerRow({ row, report }: { row: RoundAnswerRow; report: AnswerEvaluationReport }) {
  const verdict = row.verdict as keyof typeof verdictText | null;
  return (
    <tr data-answer-id={String(row.id)} data-probe-set={row.probeSet}>
      <td>
        <div class="meta">
          {`${row.probeSet} #${row.promptIndex + 1} · ${sourceOf(row, report)}${row.seed === null ? "" : ` · sample ${row.sample + 1}, seed ${row.seed}`}`}
        </div>
        {row.messages.map((message) => (
          <div>
            <span class="role">{message.role}</span>
            <div class="text">{message.content}</div>
          </div>
        ))}
      </td>
      <td data-side="champion">
        <Answer
          text={row.championText}
          finishReason={row.championFinishReason}
          checks={row.checks.map((check) => ({ name: check.name, passed: check.champion }))}
        />
      </td>
      <td data-side="candidate">
        <Answer
          text={row.candidateText}
          finishReason={row.candidateFinishReason}
          checks={row.checks.map((check) => ({ name: check.name, passed: check.candidate }))}
        />
      </td>
      <td class="verdict" data-verdict={verdict ?? "none"}>
        {verdict === null ? (
          <span class="meta">not judged</span>
        ) : (
          <>
            <div class={`verdict-${verdict}`}>{verdictText[verdict] ?? verdict}</div>
            {row.championText === row.candidateText ? (
              <div class="meta">the same answer</div>
            ) : (
              <div class="meta">
                {`P(candidate better): shown first ${probability(row.candidateFirst)}, shown second ${probability(row.candidateSecond)}`}
              </div>
            )}
          </>
        )}
      </td>
    </tr>
  );
}

function Pager({ round, query, total }: { round: RoundRow; query: RoundAnswersQuery; total: number }) {
  const pages = Math.max(1, Math.ceil(total / answersPerPage));
  const first = (query.page - 1) * answersPerPage;
  return (
    <nav class="pager">
      {query.page > 1 && (
        <a href={answersHref(round.id, { ...query, page: Math.min(pages, query.page - 1) })} rel="prev">
          ← previous
        </a>
      )}
      <span>
        {total === 0
          ? "No answers."
          : `Page ${query.page} of ${pages} · answers ${Math.min(total, first + 1)}–${Math.min(total, first + answersPerPage)} of ${total}`}
        {query.probe_set !== undefined && ` in probe set ${query.probe_set}`}
      </span>
      {query.page < pages && (
        <a href={answersHref(round.id, { ...query, page: query.page + 1 })} rel="next">
          next →
        </a>
      )}
      {query.probe_set !== undefined && <a href={answersHref(round.id, { page: 1 })}>all probe sets</a>}
    </nav>
  );
}

/** The page's body: the round's settings and figures, then one page of answers side by side. */
export function RoundAnswers({
  round,
  report,
  query,
  rows,
  total,
}: {
  round: RoundRow;
  report: AnswerEvaluationReport;
  query: RoundAnswersQuery;
  rows: RoundAnswerRow[];
  total: number;
}) {
  const gate = round.stats.gate!;
  const { settings } = report;
  return (
    <>
      <p class="meta">
        <a href={`/admin#round-${round.id}`}>← the round on the dashboard</a>
      </p>
      <p>
        <strong>{report.passed ? "Answers passed the gate" : "Answers failed the gate"}</strong>
        {` · candidate v${gate.candidate.version} vs champion v${gate.champion.version} · ${settings.samples === 1 ? "greedy" : `${settings.samples} samples at temperature ${settings.temperature}`}, up to ${settings.maxTokens} tokens · judge: ${report.judge ?? `none (${report.judgeSkipped ?? "not configured"})`}`}
      </p>
      {report.overall && <p>{`Over all probe prompts: ${judged(report.overall)}`}</p>}
      <ProbeSets round={round} report={report} />
      <Pager round={round} query={query} total={total} />
      {rows.length > 0 && (
        <table class="answers">
          <thead>
            <tr>
              <th>probe prompt</th>
              <th>{`champion v${gate.champion.version}`}</th>
              <th>{`candidate v${gate.candidate.version}`}</th>
              <th>answer judge (both orders)</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <AnswerRow row={row} report={report} />
            ))}
          </tbody>
        </table>
      )}
      {rows.length > answersPerPage / 2 && <Pager round={round} query={query} total={total} />}
    </>
  );
}
