// The import directions of DESIGN.md ("Parts and who owns what"), checked in CI by `npm run check:imports`.
const parts = ["gateway", "inference", "trainer", "db", "loadtest", "cli"];
const others = (...allowed) => `^(${parts.filter((part) => !allowed.includes(part)).join("|")})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "inference-imports-nothing-of-ours",
      comment: "inference/ owns model execution and may import nothing of ours.",
      severity: "error",
      from: { path: "^inference/" },
      to: { path: others("inference") },
    },
    {
      name: "db-imports-nothing-of-ours",
      comment: "db/ owns the schema and client factory and may import nothing of ours.",
      severity: "error",
      from: { path: "^db/" },
      to: { path: others("db") },
    },
    {
      name: "gateway-imports-inference-and-db-only",
      comment: "gateway/ and trainer/ never import each other: they meet in the database.",
      severity: "error",
      from: { path: "^gateway/" },
      to: { path: others("gateway", "inference", "db") },
    },
    {
      name: "trainer-imports-inference-and-db-only",
      comment: "gateway/ and trainer/ never import each other: they meet in the database.",
      severity: "error",
      from: { path: "^trainer/" },
      to: { path: others("trainer", "inference", "db") },
    },
    {
      name: "loadtest-imports-types-only",
      comment:
        "loadtest/ drives the system over HTTP; it may import our types but no code. The bench-*.ts drivers are the exception: they start the system in-process to compare it with the engine called directly.",
      severity: "error",
      from: { path: "^loadtest/", pathNot: "^loadtest/bench-" },
      to: { path: others("loadtest"), dependencyTypesNot: ["type-only"] },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|\\.venv)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
