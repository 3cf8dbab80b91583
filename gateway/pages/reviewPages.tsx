// The clinician review pages under /review: sign in with a key, rate the queue of recent answers, compare pairs.
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Child } from "hono/jsx";
import type { CompletionRow } from "../../db/schema.ts";
import { auditRead } from "../audit/auditRead.ts";
import { BadRequestError, PayloadTooLargeError } from "../errors.ts";
import { recordFeedback } from "../feedback/recordFeedback.ts";
import { parseFormBody } from "../parseRequest.ts";
import { feedbackRequest, paramOf } from "../protocol.ts";
import { keySession, renderPage, type SessionEnv } from "./keySession.tsx";

/** Answers shown in the queue at once. */
const queueLength = 20;
/** Most recent log rows searched for queue items and comparable pairs. */
const scanRows = 500;
/**
 * Room for the longest correction the form takes (100,000 characters): up to 4 UTF-8 bytes each, and each byte
 * URL-encoded as %XX, is 1.2 MB.
 */
const formLimitBytes = 2 * 1024 * 1024;

const css = `
.role{font-weight:600;text-transform:capitalize;color:#1f4e79}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.2rem 0 .6rem}
.answer{background:#eef5ee;border-left:4px solid #3c8d40;padding:.5rem .75rem;border-radius:4px}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-start;margin-top:.75rem}
.actions form{display:flex;gap:.4rem;align-items:flex-start}
textarea{width:13rem;min-height:2.6rem;font:inherit}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
kbd{margin-left:.35rem;border:1px solid #9aa6b8;border-radius:3px;padding:0 .25rem;font-size:.75rem;background:#f4f6f9}
`;

// Keys press the button marked with the same data-key, unless the clinician is typing.
const shortcutScript = `document.addEventListener("keydown",function(e){
var t=e.target&&e.target.tagName;
if(e.ctrlKey||e.metaKey||e.altKey||t==="TEXTAREA"||t==="INPUT"||t==="SELECT")return;
var b=document.querySelector('button[data-key="'+e.key+'"]');
if(b){e.preventDefault();b.click();}});`;

const site = { name: "medgate review", base: "/review" };
const session = keySession({
  site,
  cookie: "medgate_review",
  roles: ["clinician", "admin"],
  keyLabel: "Your clinician API key",
  refusal: "Reviews need a clinician key",
});

function page(c: Context<SessionEnv>, title: string, body: Child) {
  return renderPage(c, site, title, body, {
    signedIn: c.get("signedIn"),
    nav: (
      <>
        <a href="/review">Queue</a>
        <a href="/review/compare">Compare</a>
      </>
    ),
    css,
    script: shortcutScript,
  });
}

/** The most recent stored answers, newest first. */
async function recentAnswers(c: Context<SessionEnv>): Promise<CompletionRow[]> {
  const { logReader } = c.get("deps");
  const rows: CompletionRow[] = [];
  let after: string | undefined;
  while (rows.length < scanRows) {
    const page = await logReader.list({ limit: 100, order: "desc", ...(after ? { after } : {}) });
    rows.push(...page.rows);
    if (!page.hasMore || page.rows.length === 0) break;
    after = page.rows.at(-1)!.id;
  }
  return rows.filter((row) => row.stored && row.messages && row.choices?.[0]);
}

function Conversation({ row }: { row: CompletionRow }) {
  return (
    <>
      {(row.messages ?? []).map((message) => (
        <div>
          <span class="role">{message.role}</span>
          <div class="text">{message.content}</div>
        </div>
      ))}
    </>
  );
}

function Answer({ row, label = "answer" }: { row: CompletionRow; label?: string }) {
  return (
    <div>
      <span class="role">{label}</span>
      <div class="text answer">{row.choices?.[0]?.text ?? ""}</div>
      <div class="meta">
        {row.id} · {row.modelName} · {row.createdAt.toISOString()}
      </div>
    </div>
  );
}

function QueueItem({ row, first }: { row: CompletionRow; first: boolean }) {
  const target = <input type="hidden" name="completion_id" value={row.id} />;
  return (
    <article data-completion-id={row.id}>
      <Conversation row={row} />
      <Answer row={row} />
      <div class="actions">
        <form method="post" action="/review/feedback">
          {target}
          <input type="hidden" name="type" value="rating" />
          <button type="submit" name="rating" value="up" data-key={first ? "u" : undefined}>
            Thumbs up{first && <kbd>u</kbd>}
          </button>
          <button type="submit" name="rating" value="down" data-key={first ? "d" : undefined}>
            Thumbs down{first && <kbd>d</kbd>}
          </button>
        </form>
        <form method="post" action="/review/feedback">
          {target}
          <input type="hidden" name="type" value="rating" />
          <select name="rating" aria-label="Score from 1 to 5">
            {[1, 2, 3, 4, 5].map((score) => (
              <option value={String(score)}>{score}</option>
            ))}
          </select>
          <button type="submit">Score</button>
        </form>
        <form method="post" action="/review/feedback">
          {target}
          <input type="hidden" name="type" value="correction" />
          <textarea name="correction" placeholder="Corrected answer" required />
          <button type="submit">Correct</button>
        </form>
        <form method="post" action="/review/feedback">
          {target}
          <input type="hidden" name="type" value="comment" />
          <textarea name="comment" placeholder="Comment" required />
          <button type="submit">Comment</button>
        </form>
      </div>
    </article>
  );
}

/** The next blind pair of a running canary this reviewer has not judged, sides as the canary drew them. */
async function canaryPairFor(
  c: Context<SessionEnv>,
  keyId: string,
): Promise<[CompletionRow, CompletionRow] | undefined> {
  const pair = await c.get("deps").feedbackStore.nextCanaryPair?.(keyId);
  return pair?.[0].messages && pair[1].messages ? pair : undefined;
}

/** Newest first: the first recent answer with an older twin of the same prompt this reviewer has not compared. */
async function recentPairFor(
  c: Context<SessionEnv>,
  keyId: string,
): Promise<[CompletionRow, CompletionRow] | undefined> {
  const rows = await recentAnswers(c);
  const compared = await c.get("deps").feedbackStore.preferencePairsBy(
    keyId,
    rows.map((row) => row.id),
  );
  const done = new Set(
    compared.flatMap((pair) => [
      `${pair.completionId} ${pair.otherCompletionId}`,
      `${pair.otherCompletionId} ${pair.completionId}`,
    ]),
  );
  for (const [index, a] of rows.entries()) {
    const b = rows
      .slice(index + 1)
      .find((row) => row.promptHash === a.promptHash && !done.has(`${a.id} ${row.id}`));
    if (b) return [a, b];
  }
  return undefined;
}

/** Form fields in the shape of the API's request, so that both validate with the same schema. */
function feedbackFromForm(form: Record<string, string>) {
  const field = (name: string) => form[name];
  const rating = field("rating");
  const parsed = feedbackRequest.safeParse({
    type: field("type"),
    completion_id: field("completion_id"),
    rating: rating && /^\d+$/u.test(rating) ? Number(rating) : rating,
    correction: field("correction"),
    comment: field("comment"),
    other_completion_id: field("other_completion_id"),
    preference: field("preference"),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = paramOf(issue.path);
    throw new BadRequestError(`Invalid form field '${param ?? "form"}': ${issue.message}`, param);
  }
  return parsed.data;
}

export const reviewPages = new Hono<SessionEnv>()
  .use(
    "/review/*",
    bodyLimit({
      maxSize: formLimitBytes,
      onError: () => {
        throw new PayloadTooLargeError(formLimitBytes);
      },
    }),
  )
  // "/review/*" matches "/review" itself too.
  .use("/review/*", session.requireSignedIn)
  .get("/review/login", (c) => session.loginForm(c))
  .post("/review/login", session.signIn)
  .post("/review/logout", session.signOut)
  .get("/review", async (c) => {
    const reviewer = c.get("signedIn");
    const rows = await recentAnswers(c);
    const reviewed = await c.get("deps").feedbackStore.completionIdsReviewedBy(
      reviewer.keyId,
      rows.map((row) => row.id),
    );
    const queue = rows.filter((row) => !reviewed.has(row.id)).slice(0, queueLength);
    await auditRead(c, reviewer, { completionIds: queue.map((row) => row.id) });
    return page(
      c,
      "Answers to review",
      queue.length === 0 ? (
        <p>Nothing left to review. Thank you.</p>
      ) : (
        queue.map((row, index) => <QueueItem row={row} first={index === 0} />)
      ),
    );
  })
  .get("/review/compare", async (c) => {
    const reviewer = c.get("signedIn");
    // A running canary's blind pairs come first: the clinicians' verdicts on them decide its candidate.
    const pair = (await canaryPairFor(c, reviewer.keyId)) ?? (await recentPairFor(c, reviewer.keyId));
    await auditRead(c, reviewer, { completionIds: pair ? [pair[0].id, pair[1].id] : [] });
    if (!pair) return page(c, "Compare answers", <p>No pair of answers left to compare.</p>);
    const [a, b] = pair;
    const choice = (value: "a" | "b" | "tie", label: string) => (
      <button type="submit" name="preference" value={value} data-key={value === "tie" ? "t" : value}>
        {label} <kbd>{value === "tie" ? "t" : value}</kbd>
      </button>
    );
    return page(
      c,
      "Compare answers",
      <article>
        <Conversation row={a} />
        <div class="pair">
          {[a, b].map((row, index) => (
            <section data-completion-id={row.id}>
              <Answer row={row} label={index === 0 ? "answer A" : "answer B"} />
            </section>
          ))}
        </div>
        <form method="post" action="/review/feedback" class="actions">
          <input type="hidden" name="type" value="preference" />
          <input type="hidden" name="completion_id" value={a.id} />
          <input type="hidden" name="other_completion_id" value={b.id} />
          {choice("a", "A is better")}
          {choice("b", "B is better")}
          {choice("tie", "Tie")}
        </form>
      </article>,
    );
  })
  .post("/review/feedback", async (c) => {
    const reviewer = c.get("signedIn");
    const body = feedbackFromForm(await parseFormBody(c));
    await recordFeedback(c.get("deps"), body, reviewer.keyId);
    return c.redirect(body.type === "preference" ? "/review/compare" : "/review", 303);
  });
