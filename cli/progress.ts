// A one-line progress bar on stderr for long CLI steps; plain lines when stderr is not a terminal.

export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  #label = "";
  #lastPlain = "";
  #open = false;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
  }

  /** Shows `label` with a bar when `total` is known; a new label ends the previous line. */
  update(label: string, done?: number, total?: number, note?: string): void {
    if (label !== this.#label) {
      this.end();
      this.#label = label;
    }
    const counted = done !== undefined && total !== undefined && total > 0;
    const share = counted ? Math.min(1, done / total) : 0;
    const width = 24;
    const bar = counted
      ? `[${"#".repeat(Math.round(share * width)).padEnd(width, "-")}] ${done}/${total}`
      : "";
    const text = [label.padEnd(11), bar, note ?? ""].filter(Boolean).join(" ");
    if (this.#stream.isTTY) {
      this.#stream.write(`\r\u001b[2K${text}`);
      this.#open = true;
      return;
    }
    // Without a terminal: the label once, then a line per tenth of the way.
    const plain = counted ? `${label} ${Math.floor(share * 10) * 10}%` : `${label} ${note ?? ""}`;
    if (plain !== this.#lastPlain) {
      this.#lastPlain = plain;
      this.#stream.write(`${text}\n`);
    }
  }

  /** Ends the current line. */
  end(): void {
    if (this.#open) this.#stream.write("\n");
    this.#open = false;
  }
}
