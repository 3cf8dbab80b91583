import { describe, expect, it } from "vitest";
import { cardBandwidthGBs, copyBandwidthGBs, parseGpuLine } from "./gpuMachine.ts";

describe("cardBandwidthGBs", () => {
  it("knows the cards by the names nvidia-smi gives them", () => {
    expect(cardBandwidthGBs("NVIDIA H100 80GB HBM3")).toBe(3350);
    expect(cardBandwidthGBs("NVIDIA H100 PCIe")).toBe(2000);
    expect(cardBandwidthGBs("NVIDIA H100 NVL")).toBe(3900);
    expect(cardBandwidthGBs("NVIDIA H200")).toBe(4800);
    expect(cardBandwidthGBs("NVIDIA GH200 480GB")).toBe(4000);
    expect(cardBandwidthGBs("NVIDIA A100-SXM4-80GB")).toBe(2039);
    expect(cardBandwidthGBs("NVIDIA A100 80GB PCIe")).toBe(1935);
    expect(cardBandwidthGBs("NVIDIA A100-SXM4-40GB")).toBe(1555);
    expect(cardBandwidthGBs("NVIDIA L4")).toBe(300);
    expect(cardBandwidthGBs("NVIDIA L40S")).toBe(864);
    expect(cardBandwidthGBs("NVIDIA A10G")).toBe(600);
    expect(cardBandwidthGBs("Tesla T4")).toBe(320);
    expect(cardBandwidthGBs("NVIDIA GeForce GTX 1080")).toBeUndefined();
  });
});

describe("parseGpuLine", () => {
  it("reads nvidia-smi's name and memory, and nothing from an empty line", () => {
    expect(parseGpuLine("NVIDIA H100 80GB HBM3, 81559")).toEqual({
      name: "NVIDIA H100 80GB HBM3",
      memoryMiB: 81559,
    });
    expect(parseGpuLine("")).toBeUndefined();
  });
});

describe("copyBandwidthGBs", () => {
  it("measures a copy at a plausible rate for a machine's memory", () => {
    const gbs = copyBandwidthGBs();
    expect(gbs).toBeGreaterThan(0.1);
    expect(gbs).toBeLessThan(10_000);
  });
});
