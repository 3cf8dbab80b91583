// The admin dashboard's table of the latest logged answers: when, which model and version, how it ended,
// how long it took, and its trace (a link to the trace viewer when one is configured). No patient text.
import type { CompletionRow } from "../../db/schema.ts";

/** `template` with `{traceId}` replaced; undefined when there is no template or the id is not a W3C trace id. */
export function traceLink(template: string | undefined, traceId: string): string | undefined {
  if (!template || !/^[0-9a-f]{32}$/u.test(traceId)) return undefined;
  return template.replaceAll("{traceId}", traceId);
}

export function RecentAnswers({ rows, traceViewer }: { rows: CompletionRow[]; traceViewer?: string }) {
  return (
    <table>
      <thead>
        <tr>
          <th>when</th>
          <th>completion</th>
          <th>model</th>
          <th>status</th>
          <th>latency</th>
          <th>trace</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => {
          const link = traceLink(traceViewer, row.traceId);
          return (
            <tr data-completion-id={row.id}>
              <td>{row.createdAt.toISOString().slice(0, 19).replace("T", " ")}</td>
              <td>
                <code>{row.id}</code>
              </td>
              <td>{row.modelName}</td>
              <td>{row.status}</td>
              <td>{`${Math.round(row.latencyMs)} ms`}</td>
              <td>
                {link ? (
                  <a href={link} data-trace-id={row.traceId}>
                    <code>{row.traceId}</code>
                  </a>
                ) : (
                  <code>{row.traceId}</code>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
