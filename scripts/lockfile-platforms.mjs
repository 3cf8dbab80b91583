#!/usr/bin/env node
// Completes package-lock.json with the other platforms' optional binary packages (biome, node-llama-cpp,
// ...) that this machine's registry mirror does not serve: `npm install` leaves them out, and then
// `npm ci` refuses the lock file as out of sync. Each entry is inferred from the package name (os, cpu,
// libc) so npm skips it on other platforms and fetches it by name on its own. Run after `npm install`.
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const packages = lock.packages;
const osNames = {
  win32: "win32",
  win: "win32",
  darwin: "darwin",
  mac: "darwin",
  linux: "linux",
  android: "android",
};
const cpuNames = { x64: "x64", arm64: "arm64", armv7l: "arm", arm: "arm", ia32: "ia32", riscv64: "riscv64" };
let added = 0;
for (const [key, entry] of Object.entries(packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = `node_modules/${name}`;
    if (packages[target]) continue;
    const words = name.split("/").at(-1).split("-");
    const os = words.map((word) => osNames[word]).find(Boolean);
    const cpu = words.map((word) => cpuNames[word]).find(Boolean);
    if (!os || !cpu) throw new Error(`cannot infer the platform of ${name} (optional dependency of ${key})`);
    packages[target] = {
      version: range.replace(/^[\^~=]/u, ""),
      cpu: [cpu],
      ...(entry.dev ? { dev: true } : {}),
      ...(words.includes("musl") ? { libc: ["musl"] } : {}),
      optional: true,
      os: [os],
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile-platforms: added ${added} platform package entries`);
