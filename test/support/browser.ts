// The Chromium the browser tests drive through playwright-core: the one scripts/setup-browser.sh found (run by
// `npm test`), MEDGATE_CHROMIUM, or one on PATH. Without one, the browser tests are skipped, named with the fix.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

function findChromium(): string | undefined {
  const candidates = [process.env.MEDGATE_CHROMIUM];
  if (existsSync(".medgate/chromium-path"))
    candidates.push(readFileSync(".medgate/chromium-path", "utf8").trim());
  for (const name of ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"]) {
    try {
      candidates.push(execFileSync("which", [name], { encoding: "utf8" }).trim());
    } catch {
      // not on PATH
    }
  }
  return candidates.find((path) => path && existsSync(path));
}

export const chromiumPath = findChromium();

/** Appended to a browser test's name: empty when it runs, the fix when it is skipped. */
export const browserNote = chromiumPath
  ? ""
  : " [skipped: no Chromium; fix: sudo apt-get install chromium, or MEDGATE_CHROMIUM=/path/to/chrome]";

export function launchChromium(): Promise<Browser> {
  if (!chromiumPath) throw new Error(`No Chromium found.${browserNote}`);
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-gpu",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-dev-shm-usage",
    ],
  });
}
