// Reads Prometheus' text exposition format (0.0.4) into samples: `# TYPE` lines give each family's type, every
// other non-comment line is `name{label="value",...} value [timestamp]` (label values escape \\, \" and \n).
export type Sample = { name: string; labels: Record<string, string>; value: number };
export type Exposition = { types: Map<string, string>; samples: Sample[] };

export function parsePrometheusText(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const [index, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const type = /^# TYPE (\S+) (\S+)$/u.exec(line);
      if (type) types.set(type[1]!, type[2]!);
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( \d+)?$/u.exec(line);
    if (!match) throw new Error(`line ${index + 1} is not a sample: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[3] ?? "";
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gu;
    let consumed = 0;
    for (let found = label.exec(body); found; found = label.exec(body)) {
      labels[found[1]!] = found[2]!.replace(/\\(.)/gu, (_m, c: string) => (c === "n" ? "\n" : c));
      consumed = label.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`line ${index + 1} has malformed labels: ${line}`);
    const value =
      match[4] === "+Inf"
        ? Number.POSITIVE_INFINITY
        : match[4] === "-Inf"
          ? Number.NEGATIVE_INFINITY
          : Number(match[4]);
    if (Number.isNaN(value) && match[4] !== "NaN")
      throw new Error(`line ${index + 1} has a bad value: ${line}`);
    samples.push({ name: match[1]!, labels, value });
  }
  return { types, samples };
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function sampleSum(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return exposition.samples
    .filter(
      (sample) => sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v),
    )
    .reduce((sum, sample) => sum + sample.value, 0);
}
