// What `bench:gpu` needs to know about the machine: its NVIDIA GPU (from nvidia-smi), the memory bandwidth of known
// cards, and, without a GPU, the CPU's name and a measured copy bandwidth.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export type Gpu = { name: string; memoryMiB: number };

/** The first NVIDIA GPU nvidia-smi lists, or none (no nvidia-smi, no GPU, or it fails). */
export function nvidiaGpu(): Gpu | undefined {
  try {
    const listed = execFileSync(
      "nvidia-smi",
      ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
      { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] },
    );
    return parseGpuLine(listed.trim().split("\n")[0] ?? "");
  } catch {
    return undefined;
  }
}

/** One line of `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`. */
export function parseGpuLine(line: string): Gpu | undefined {
  const [name, memory] = line.split(",").map((field) => field.trim());
  return name ? { name, memoryMiB: Number(memory) } : undefined;
}

/** Memory bandwidth of known cards in GB/s (the vendors' figures), by a pattern of nvidia-smi's name, first match. */
const knownBandwidthGBs: [RegExp, number][] = [
  [/GH200/u, 4000],
  [/H200/u, 4800],
  [/H100.*NVL/u, 3900],
  [/H100.*PCIe/u, 2000],
  [/H100/u, 3350], // SXM: "NVIDIA H100 80GB HBM3"
  [/A100.*80GB.*PCIe/u, 1935],
  [/A100.*80GB/u, 2039], // SXM: "NVIDIA A100-SXM4-80GB"
  [/A100/u, 1555],
  [/L40S?\b/u, 864],
  [/\bL4\b/u, 300],
  [/\bA10G?\b/u, 600],
  [/RTX 4090/u, 1008],
  [/RTX 3090/u, 936],
  [/V100/u, 900],
  [/\bT4\b/u, 320],
];

/** The memory bandwidth of the card nvidia-smi names `name`, in GB/s; undefined for a card not in the table. */
export function cardBandwidthGBs(name: string): number | undefined {
  return knownBandwidthGBs.find(([pattern]) => pattern.test(name))?.[1];
}

/** The CPU's model name from /proc/cpuinfo ("CPU" where it has none). */
export function cpuName(): string {
  try {
    return /^model name\s*:\s*(.+)$/mu.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "CPU";
  } catch {
    return "CPU";
  }
}

/** Memory bandwidth of a 256 MiB copy on one thread in GB/s, counting the bytes read and written, best of five. */
export function copyBandwidthGBs(): number {
  const size = 256 * 1024 * 1024;
  const from = Buffer.alloc(size, 1);
  const to = Buffer.alloc(size);
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    from.copy(to);
    best = Math.min(best, performance.now() - started);
  }
  return (2 * size) / (best / 1000) / 1e9;
}
