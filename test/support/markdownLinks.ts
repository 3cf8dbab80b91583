// The links of the project's Markdown, checked as GitHub resolves them: a relative link names a file or folder of
// the repository, and a #fragment names a heading of the page it points to by GitHub's slug (github-slugger's rule).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** GitHub's anchor of a heading's text: lower case, punctuation and symbols dropped, each space a hyphen. */
export function githubSlug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /gu, "-");
}

/** The text GitHub renders of a heading's Markdown: links by their text, code and emphasis without their marks. */
export function headingText(markdown: string): string {
  return markdown
    .replace(/!?\[([^\]]*)\]\([^)]*\)/gu, "$1")
    .replace(/<[^>]+>/gu, "")
    .replace(/[`*]/gu, "")
    .trim();
}

/** Each line of `markdown` outside fenced code blocks, with its number; inline code spans blanked. */
function proseLines(markdown: string): { text: string; line: number }[] {
  const lines: { text: string; line: number }[] = [];
  let fence: string | undefined;
  for (const [index, text] of markdown.split("\n").entries()) {
    const opening = /^\s{0,3}(`{3,}|~{3,})/u.exec(text)?.[1];
    if (fence) {
      if (opening && opening[0] === fence[0] && opening.length >= fence.length) fence = undefined;
      continue;
    }
    if (opening) {
      fence = opening;
      continue;
    }
    lines.push({ text: text.replace(/(`+)[^`]*?\1/gu, (span) => " ".repeat(span.length)), line: index + 1 });
  }
  return lines;
}

/** The anchors of a page's ATX headings (`## …`), numbered as GitHub numbers repeated ones (`-1`, `-2`). */
export function anchorsOf(markdown: string): Set<string> {
  // github-slugger's counting: a slug taken gets the next free `-N` of its base.
  const occurrences = new Map<string, number>();
  const lines = markdown.split("\n");
  for (const { line } of proseLines(markdown)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/u.exec(lines[line - 1]!);
    if (!heading) continue;
    const base = githubSlug(headingText(heading[1]!));
    let slug = base;
    while (occurrences.has(slug)) {
      const count = occurrences.get(base)! + 1;
      occurrences.set(base, count);
      slug = `${base}-${count}`;
    }
    occurrences.set(slug, 0);
  }
  return new Set(occurrences.keys());
}

/** The targets of a page's inline links and images, and of its reference definitions. */
export function linksOf(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  for (const { text, line } of proseLines(markdown)) {
    for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/gu))
      links.push({ target: match[1]!, line });
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/u.exec(text);
    if (definition) links.push({ target: definition[1]!, line });
  }
  return links;
}

/**
 * Every broken relative link of `files` (paths under `root`), as "file:line: why". External links (a scheme, or
 * `//`) are not followed.
 */
export function brokenLinks(root: string, files: string[]): string[] {
  const problems: string[] = [];
  const anchorsByFile = new Map<string, Set<string>>();
  const anchorsIn = (path: string) => {
    if (!anchorsByFile.has(path)) anchorsByFile.set(path, anchorsOf(readFileSync(path, "utf8")));
    return anchorsByFile.get(path)!;
  };
  for (const file of files) {
    const source = resolve(root, file);
    for (const { target, line } of linksOf(readFileSync(source, "utf8"))) {
      if (/^[a-z][a-z0-9+.-]*:|^\/\//iu.test(target)) continue;
      const at = `${file}:${line}: ${target}`;
      const [pathPart = "", fragment] = target.split("#", 2) as [string, string | undefined];
      const path = pathPart === "" ? source : resolve(dirname(source), decodeURIComponent(pathPart));
      if (pathPart.startsWith("/") || relative(resolve(root), path).startsWith("..")) {
        problems.push(`${at}: points outside the repository`);
        continue;
      }
      if (!existsSync(path)) {
        problems.push(`${at}: no such file`);
        continue;
      }
      if (fragment === undefined) continue;
      if (path.endsWith(".md") && statSync(path).isFile()) {
        if (!anchorsIn(path).has(fragment))
          problems.push(`${at}: no heading with that anchor in ${relative(root, path)}`);
      } else if (!/^L\d+(?:-L\d+)?$/u.test(fragment)) {
        problems.push(`${at}: an anchor into a file that is not Markdown`);
      }
    }
  }
  return problems;
}

/** README.md, DESIGN.md and every page under docs/, relative to `root`. */
export function projectMarkdown(root: string): string[] {
  const pages = readdirSync(join(root, "docs"), { recursive: true, encoding: "utf8" })
    .filter((path) => path.endsWith(".md"))
    .sort()
    .map((path) => join("docs", path));
  return ["README.md", "DESIGN.md", ...pages];
}
