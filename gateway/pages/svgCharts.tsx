// Server-rendered SVG charts for the dashboard: training curves, figures over rounds and gate forest plots. No
// script needed.
import type { Child } from "hono/jsx";

const palette = ["#1f4e79", "#c0392b", "#2e8b57", "#8e44ad", "#d68910"];

/** A number as the charts write it on axes and in their tooltips. */
export function tick(value: number): string {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.01 || abs >= 1000)) return value.toExponential(1);
  return Number(value.toFixed(abs < 1 ? 3 : 2)).toString();
}

/** Characters of an 11–12px label that fit in `pixels` (about 7 pixels each). */
const charactersIn = (pixels: number) => Math.floor(pixels / 7.2);

/**
 * An accessible SVG of the given size with the chart's title at its top: cut with an ellipsis where it would not
 * fit (a check's name can be long), whole in its aria-label.
 */
function Chart({
  title,
  titleX,
  width,
  height,
  children,
}: {
  title: string;
  titleX: number;
  width: number;
  height: number;
  children: Child;
}) {
  return (
    <svg
      class="chart"
      role="img"
      aria-label={title}
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      xmlns="http://www.w3.org/2000/svg"
    >
      <text x={titleX} y={14} class="chart-title">
        {title.length > charactersIn(width - titleX - 8)
          ? `${title.slice(0, charactersIn(width - titleX - 8) - 1)}…`
          : title}
      </text>
      {children}
    </svg>
  );
}

export type Series = { name: string; points: [number, number][] };

/** Lines over a shared x axis (training steps), each series scaled to the common y range. */
export function LineChart({
  title,
  series,
  width = 560,
  height = 220,
}: {
  title: string;
  series: Series[];
  width?: number;
  height?: number;
}) {
  const all = series.flatMap((line) => line.points);
  if (all.length === 0) return <p class="meta">{title}: no data.</p>;
  const pad = { left: 56, right: 12, top: 24, bottom: 28 };
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => pad.left + ((x - x0) / Math.max(1e-9, x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y: number) => pad.top + (1 - (y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  return (
    <Chart title={title} titleX={pad.left} width={width} height={height}>
      <line
        x1={pad.left}
        y1={height - pad.bottom}
        x2={width - pad.right}
        y2={height - pad.bottom}
        class="axis"
      />
      <line x1={pad.left} y1={pad.top} x2={pad.left} y2={height - pad.bottom} class="axis" />
      <text x={pad.left - 4} y={sy(y1) + 4} text-anchor="end" class="tick">
        {tick(y1)}
      </text>
      <text x={pad.left - 4} y={sy(y0) + 4} text-anchor="end" class="tick">
        {tick(y0)}
      </text>
      <text x={pad.left} y={height - 8} class="tick">
        {`step ${x0}`}
      </text>
      <text x={width - pad.right} y={height - 8} text-anchor="end" class="tick">
        {`step ${x1}`}
      </text>
      {series.map((line, i) => (
        <>
          <polyline
            fill="none"
            stroke={palette[i % palette.length]}
            stroke-width="2"
            points={line.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}
          />
          <text
            x={width - pad.right - 4}
            y={pad.top + 14 * (i + 1)}
            text-anchor="end"
            fill={palette[i % palette.length]}
            class="tick"
          >
            {line.name}
          </text>
        </>
      ))}
    </Chart>
  );
}

/** An estimate at round `x`, with its interval; a figure that has none leaves `lower` and `upper` out. */
export type IntervalPoint = { x: number; value: number; lower?: number; upper?: number };

/**
 * Estimates with their intervals over rounds (x: the round number), one colour per series, on a 0–1 scale unless
 * `range` gives another: a dot per estimate and a bar for its interval (none for a figure without one). `connect`
 * joins a series' dots by a line; `reference` is a dashed line across, e.g. 0.5 for a win rate.
 */
export function IntervalChart({
  title,
  series,
  width = 560,
  height = 220,
  connect = false,
  reference,
  range = [0, 1],
}: {
  title: string;
  series: { name: string; points: IntervalPoint[] }[];
  width?: number;
  height?: number;
  connect?: boolean;
  reference?: number;
  /** The y axis' bottom and top. Default: 0 and 1 */
  range?: [number, number];
}) {
  const all = series.flatMap((line) => line.points);
  if (all.length === 0) return <p class="meta">{title}: no data.</p>;
  const pad = { left: 40, right: 12, top: 24, bottom: 28 };
  const xs = all.map((point) => point.x);
  const [x0, x1] = [Math.min(...xs) - 0.5, Math.max(...xs) + 0.5];
  const sx = (x: number) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const [y0, y1] = range[0] === range[1] ? [range[0] - 1, range[1] + 1] : range;
  const sy = (y: number) => pad.top + (1 - (y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  return (
    <Chart title={title} titleX={pad.left} width={width} height={height}>
      <line x1={pad.left} y1={sy(y0)} x2={width - pad.right} y2={sy(y0)} class="axis" />
      <line x1={pad.left} y1={sy(y1)} x2={pad.left} y2={sy(y0)} class="axis" />
      {[y0, (y0 + y1) / 2, y1].map((y) => (
        <text x={pad.left - 4} y={sy(y) + 4} text-anchor="end" class="tick">
          {tick(y)}
        </text>
      ))}
      {reference !== undefined && (
        <line
          x1={pad.left}
          y1={sy(reference)}
          x2={width - pad.right}
          y2={sy(reference)}
          class="tolerance reference"
        />
      )}
      <text x={pad.left} y={height - 8} class="tick">
        {`round ${Math.min(...xs)}`}
      </text>
      <text x={width - pad.right} y={height - 8} text-anchor="end" class="tick">
        {`round ${Math.max(...xs)}`}
      </text>
      {series.map((line, i) => {
        const color = palette[i % palette.length];
        // Series side by side within a round, so their bars do not hide each other.
        const shift = (i - (series.length - 1) / 2) * 6;
        return (
          <>
            {connect && line.points.length > 1 && (
              <polyline
                fill="none"
                stroke={color}
                stroke-width="1.5"
                points={line.points
                  .map((point) => `${(sx(point.x) + shift).toFixed(1)},${sy(point.value).toFixed(1)}`)
                  .join(" ")}
              />
            )}
            {line.points.map(({ x, value, lower, upper }) => (
              <>
                {lower !== undefined && upper !== undefined && (
                  <line
                    x1={sx(x) + shift}
                    y1={sy(lower)}
                    x2={sx(x) + shift}
                    y2={sy(upper)}
                    stroke={color}
                    stroke-width="2"
                  />
                )}
                <circle cx={sx(x) + shift} cy={sy(value)} r="4" fill={color}>
                  <title>
                    {`${line.name}, round ${x}: ${tick(value)}${lower === undefined || upper === undefined ? "" : ` [${tick(lower)}, ${tick(upper)}]`}`}
                  </title>
                </circle>
              </>
            ))}
            <text
              x={width - pad.right - 4}
              y={pad.top + 14 * (i + 1)}
              text-anchor="end"
              fill={color}
              class="tick"
            >
              {line.name}
            </text>
          </>
        );
      })}
    </Chart>
  );
}

export type IntervalRow = { name: string; difference: number; lower: number; upper: number; passed: boolean };

/**
 * A forest plot of candidate − champion accuracy with its confidence interval per benchmark (in points),
 * the zero line and the tolerance line below which a benchmark fails.
 */
export function ForestPlot({
  title,
  rows,
  tolerance,
}: {
  title: string;
  rows: IntervalRow[];
  tolerance: number;
}) {
  const width = 560;
  const rowHeight = 22;
  const pad = { left: 170, right: 16, top: 26, bottom: 28 };
  const height = pad.top + pad.bottom + rows.length * rowHeight;
  const extent = Math.max(
    0.05,
    tolerance * 1.5,
    ...rows.flatMap((row) => [Math.abs(row.lower), Math.abs(row.upper)]),
  );
  const sx = (value: number) => pad.left + ((value + extent) / (2 * extent)) * (width - pad.left - pad.right);
  const points = (value: number) => `${(value * 100).toFixed(1)}`;
  return (
    <Chart title={title} titleX={8} width={width} height={height}>
      <line x1={sx(0)} y1={pad.top - 4} x2={sx(0)} y2={height - pad.bottom} class="axis" />
      <line
        x1={sx(-tolerance)}
        y1={pad.top - 4}
        x2={sx(-tolerance)}
        y2={height - pad.bottom}
        class="tolerance"
      />
      <text x={sx(-tolerance)} y={height - 8} text-anchor="middle" class="tick">
        {`−${points(tolerance)} pts`}
      </text>
      <text x={sx(0)} y={height - 8} text-anchor="middle" class="tick">
        0
      </text>
      {rows.map((row, i) => {
        const y = pad.top + i * rowHeight + rowHeight / 2;
        const color = row.passed ? "#2e8b57" : "#c0392b";
        return (
          <>
            <text x={pad.left - 8} y={y + 4} text-anchor="end" class="tick">
              {row.name}
            </text>
            <line x1={sx(row.lower)} y1={y} x2={sx(row.upper)} y2={y} stroke={color} stroke-width="2" />
            <circle cx={sx(row.difference)} cy={y} r="4" fill={color}>
              <title>{`${row.name}: ${points(row.difference)} pts [${points(row.lower)}, ${points(row.upper)}]`}</title>
            </circle>
          </>
        );
      })}
    </Chart>
  );
}

export const chartCss = `
.chart{background:#fff;border:1px solid #d8dde6;border-radius:6px;margin:.5rem .5rem .5rem 0}
.chart .axis{stroke:#5a6478;stroke-width:1}
.chart .tolerance{stroke:#c0392b;stroke-width:1;stroke-dasharray:4 3}
.chart .tick{font-size:11px;fill:#5a6478}
.chart .chart-title{font-size:12px;font-weight:600;fill:#1d2330}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.85rem}
th,td{border-bottom:1px solid #e3e7ee;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef2f7}
.status-champion{color:#2e8b57;font-weight:600}.status-rejected,.state-failed,.state-rejected{color:#c0392b}
.state-promoted{color:#2e8b57;font-weight:600}
.charts{display:flex;flex-wrap:wrap}
code{font-size:.8rem}
`;
