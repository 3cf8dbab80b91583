// Every resolution path without the network: files are tiny stand-ins that only carry the GGUF magic bytes.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findCatalogEntry } from "./catalog.ts";
import { ModelSourceError, resolveModelSource } from "./modelSource.ts";

let dir: string;
let modelsDir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "medgate-model-source-"));
  modelsDir = path.join(dir, "models");
  await mkdir(modelsDir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeGguf(filePath: string): Promise<string> {
  await writeFile(filePath, Buffer.concat([Buffer.from("GGUF"), Buffer.from([3, 0, 0, 0])]));
  return filePath;
}

async function rejection(promise: Promise<unknown>): Promise<ModelSourceError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ModelSourceError);
  return error as ModelSourceError;
}

describe("resolveModelSource: local paths", () => {
  it("resolves an existing .gguf file and names it after the file", async () => {
    const file = await writeGguf(path.join(dir, "my-model.Q4_K_M.gguf"));
    const resolved = await resolveModelSource(file, { modelsDir });
    expect(resolved).toEqual({ path: file, name: "my-model.Q4_K_M" });
  });

  it("also looks for a relative path in the models dir", async () => {
    const file = await writeGguf(path.join(modelsDir, "tiny.gguf"));
    const resolved = await resolveModelSource("tiny.gguf", { modelsDir });
    expect(resolved.path).toBe(file);
    expect(resolved.name).toBe("tiny");
  });

  it("fails clearly on a missing file", async () => {
    const missing = path.join(dir, "nope.gguf");
    const error = await rejection(resolveModelSource(missing, { modelsDir }));
    expect(error.code).toBe("file-not-found");
    expect(error.message).toContain(missing);
  });

  it("rejects a file without the GGUF magic", async () => {
    const file = path.join(dir, "weights.gguf");
    await writeFile(file, "{}\n");
    const error = await rejection(resolveModelSource(file, { modelsDir }));
    expect(error.code).toBe("not-gguf");
    expect(error.message).toContain("GGUF");
  });

  it("rejects a directory", async () => {
    const folder = path.join(dir, "folder.gguf");
    await mkdir(folder);
    expect((await rejection(resolveModelSource(folder, { modelsDir }))).code).toBe("file-not-found");
  });
});

describe("resolveModelSource: catalog ids", () => {
  it("resolves an entry whose GGUF file is already in the models dir, without downloading", async () => {
    const entry = findCatalogEntry("med42-v2-8b")!;
    const file = await writeGguf(path.join(modelsDir, entry.gguf[0]!.file));
    // "auto" would download a missing file; a present one must be returned before any request is made.
    for (const download of ["auto", "offline"] as const) {
      const resolved = await resolveModelSource("med42-v2-8b", { modelsDir, download });
      expect(resolved).toEqual({ path: file, name: "med42-v2-8b", catalogEntry: entry });
    }
  });

  it("offline, a missing catalog file is a clear error naming the models dir", async () => {
    const error = await rejection(resolveModelSource("hippo-mistral-7b", { modelsDir, download: false }));
    expect(error.code).toBe("not-downloaded");
    expect(error.message).toContain(modelsDir);
    expect(error.message).toContain("hippomistral-Q4_K_M.gguf");
  });

  it("resolves the demo model from the models dir", async () => {
    const file = await writeGguf(path.join(modelsDir, "SmolLM2-135M-Instruct.Q4_1.gguf"));
    const resolved = await resolveModelSource("smollm2-135m-instruct", { modelsDir });
    expect(resolved.path).toBe(file);
    expect(resolved.name).toBe("smollm2-135m-instruct");
    expect(resolved.catalogEntry?.demo).toBe(true);
  });

  it("tells the user to run setup when the demo model is missing, even with downloads on", async () => {
    const error = await rejection(
      resolveModelSource("smollm2-135m-instruct", { modelsDir, download: "auto" }),
    );
    expect(error.code).toBe("demo-model-missing");
    expect(error.message).toContain("npm run setup");
  });

  it("lists the known ids for an unknown one", async () => {
    const error = await rejection(resolveModelSource("med43", { modelsDir }));
    expect(error.code).toBe("unknown-model");
    for (const id of [
      "med42-v2-8b",
      "med42-v2-70b",
      "hippo-mistral-7b",
      "hippo-llama2-7b",
      "smollm2-135m-instruct",
    ]) {
      expect(error.message).toContain(id);
    }
  });
});

describe("resolveModelSource: hf: URIs", () => {
  // node-llama-cpp stores hf: downloads as hf_<user>_[<repo>_]<file>; the repo part is left out when the repo is
  // `<file base>-GGUF`. Both URI forms of this repo map to the same file.
  const cachedName = "hf_someuser_Some-Model.Q4_K_M.gguf";

  it("resolves a file URI whose file is already in the models dir, offline", async () => {
    const file = await writeGguf(path.join(modelsDir, cachedName));
    const resolved = await resolveModelSource("hf:someuser/Some-Model-GGUF/Some-Model.Q4_K_M.gguf", {
      modelsDir,
      download: "offline",
    });
    expect(resolved).toEqual({ path: file, name: "Some-Model.Q4_K_M" });
  });

  it("resolves a quant URI whose file is already in the models dir, offline and with downloads on", async () => {
    const file = await writeGguf(path.join(modelsDir, cachedName));
    for (const download of [false, "auto"] as const) {
      const resolved = await resolveModelSource("hf:someuser/Some-Model-GGUF:q4_k_m", {
        modelsDir,
        download,
      });
      expect(resolved).toEqual({ path: file, name: "Some-Model.Q4_K_M" });
    }
  });

  it("keeps the repo in the cached name when the file is not named after it", async () => {
    const file = await writeGguf(path.join(modelsDir, "hf_someuser_weights_model.gguf"));
    const resolved = await resolveModelSource("hf://someuser/weights/model.gguf", {
      modelsDir,
      download: false,
    });
    expect(resolved).toEqual({ path: file, name: "model" });
  });

  it("offline, a missing hf: file is a clear error", async () => {
    const error = await rejection(
      resolveModelSource("hf:someuser/Other-GGUF:Q8_0", { modelsDir, download: "offline" }),
    );
    expect(error.code).toBe("not-downloaded");
    expect(error.message).toContain("downloads are off");
  });

  it.each([
    ["hf:", "needs a user and a repo"],
    ["hf:justauser", "needs a user and a repo"],
    ["hf:user/repo:", "tag after ':' is empty"],
    ["hf:user/repo/README.md", "is not a .gguf file"],
    ["hf:user/repo:Q4_K_M/file.gguf", "cannot be followed by a file path"],
  ])("rejects the malformed URI %s", async (spec, why) => {
    const error = await rejection(resolveModelSource(spec, { modelsDir, download: false }));
    expect(error.code).toBe("invalid-hf-uri");
    expect(error.message).toContain(why);
  });

  it("points URLs at the hf: form", async () => {
    const error = await rejection(
      resolveModelSource("https://huggingface.co/u/r/resolve/main/m.gguf", { modelsDir, download: false }),
    );
    expect(error.code).toBe("invalid-hf-uri");
  });
});
