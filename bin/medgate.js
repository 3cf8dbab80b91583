#!/usr/bin/env node
// The medgate command: runs the TypeScript CLI through tsx, so no build step stands between clone and use.
import { register } from "tsx/esm/api";

register();
await import("../cli/main.ts");
