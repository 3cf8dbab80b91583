// The links of README.md, DESIGN.md and docs/: every relative link reaches a file, every anchor a heading, every
// docs page is listed in the README and every picture in docs/images/ is shown on a page.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  anchorsOf,
  brokenLinks,
  githubSlug,
  headingText,
  linksOf,
  projectMarkdown,
} from "../support/markdownLinks.ts";

const root = process.cwd();

describe("GitHub's heading anchors", () => {
  it("lower-cases, drops punctuation and symbols, keeps letters of any script, and hyphenates each space", () => {
    const cases: [string, string][] = [
      ["Engines: in-process or a managed llama-server", "engines-in-process-or-a-managed-llama-server"],
      ["Model registry, promotion and rollback", "model-registry-promotion-and-rollback"],
      ["What’s new — v2", "whats-new--v2"],
      ["Hippo: 7B & 13B", "hippo-7b--13b"],
      ["C++ API", "c-api"],
      ["snake_case stays", "snake_case-stays"],
      ["Größe der Modelle", "größe-der-modelle"],
    ];
    for (const [heading, slug] of cases) expect(githubSlug(heading), heading).toBe(slug);
  });

  it("reads a heading as GitHub renders it: code, emphasis and links by their text", () => {
    expect(githubSlug(headingText("The `cli/` folder and **its** [commands](cli/main.ts)"))).toBe(
      "the-cli-folder-and-its-commands",
    );
  });

  it("numbers repeated headings and ignores headings in code blocks", () => {
    const page = [
      "# Threads",
      "## Threads",
      "```bash",
      "# not a heading",
      "```",
      "## Threads",
      "### Threads-1",
    ];
    expect([...anchorsOf(page.join("\n"))]).toEqual(["threads", "threads-1", "threads-2", "threads-1-1"]);
  });
});

describe("links in Markdown", () => {
  it("finds inline links, images and reference definitions, not what code shows", () => {
    const page = [
      'See [serving](docs/serving.md#the-api) and ![a picture](docs/images/x.png "title").',
      "`[not](a-link.md)` and a [site](https://example.org).",
      "```md",
      "[not](either.md)",
      "```",
      "[ref]: DESIGN.md",
    ];
    expect(linksOf(page.join("\n"))).toEqual([
      { target: "docs/serving.md#the-api", line: 1 },
      { target: "docs/images/x.png", line: 1 },
      { target: "https://example.org", line: 2 },
      { target: "DESIGN.md", line: 6 },
    ]);
  });

  it("reports a missing file, a missing anchor, an anchor into code and a link out of the repository", () => {
    const dir = mkdtempSync(join(tmpdir(), "medgate-links-"));
    try {
      mkdirSync(join(dir, "docs"));
      writeFileSync(join(dir, "code.ts"), "export {};\n");
      writeFileSync(join(dir, "docs", "page.md"), "# Page\n\n## The API\n");
      writeFileSync(
        join(dir, "README.md"),
        [
          "[fine](docs/page.md#the-api) [fine](docs/page.md) [fine](#readme) [fine](code.ts#L1-L2) [fine](docs)",
          "[gone](docs/gone.md) [anchor](docs/page.md#the-apis) [here](#nowhere)",
          "[code](code.ts#main) [out](../elsewhere.md) [site](https://example.org/x.md#y)",
          "# Readme",
        ].join("\n"),
      );
      expect(brokenLinks(dir, ["README.md"])).toEqual([
        "README.md:2: docs/gone.md: no such file",
        "README.md:2: docs/page.md#the-apis: no heading with that anchor in docs/page.md",
        "README.md:2: #nowhere: no heading with that anchor in README.md",
        "README.md:3: code.ts#main: an anchor into a file that is not Markdown",
        "README.md:3: ../elsewhere.md: points outside the repository",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the project's documentation", () => {
  const pages = projectMarkdown(root);

  it("has no broken relative link or anchor in README.md, DESIGN.md and docs/", () => {
    expect(pages.length).toBeGreaterThan(3);
    expect(brokenLinks(root, pages)).toEqual([]);
  });

  it("lists every docs page in the README", () => {
    const listed = new Set(
      linksOf(readFileSync("README.md", "utf8")).map((link) => link.target.split("#")[0]),
    );
    const unlisted = pages.filter((page) => page.startsWith("docs/") && !listed.has(page));
    expect(unlisted).toEqual([]);
  });

  it("shows every picture in docs/images/ on some page", () => {
    const shown = new Set(
      pages.flatMap((page) =>
        linksOf(readFileSync(page, "utf8")).map((link) => join(page, "..", link.target.split("#")[0]!)),
      ),
    );
    const unused = readdirSync("docs/images")
      .map((name) => join("docs", "images", name))
      .filter((path) => !shown.has(path));
    expect(unused).toEqual([]);
  });
});
