// The serve configuration: defaults, environment, flags over environment, and readable failures.
import { describe, expect, it } from "vitest";
import { ConfigError, envNameOf, parseServeConfig } from "./config.ts";

describe("parseServeConfig", () => {
  it("has documented defaults", () => {
    expect(parseServeConfig({}, {})).toMatchObject({
      model: "smollm2-135m-instruct",
      host: "127.0.0.1",
      port: 8080,
      parallel: 4,
      queue: 64,
      gpu: "auto",
      modelsDir: ".medgate/models",
      offline: false,
    });
  });

  it("reads MEDGATE_* variables and lets flags win", () => {
    const env = {
      MEDGATE_PORT: "9000",
      MEDGATE_PARALLEL: "2",
      MEDGATE_OFFLINE: "1",
      MEDGATE_MODELS_DIR: "/m",
    };
    expect(parseServeConfig({ parallel: "8" }, env)).toMatchObject({
      port: 9000,
      parallel: 8,
      offline: true,
      modelsDir: "/m",
    });
    expect(parseServeConfig({}, { MEDGATE_OFFLINE: "false" }).offline).toBe(false);
  });

  it("names the flag and variable of a bad value", () => {
    expect(() => parseServeConfig({ threads: "-1" }, {})).toThrow(ConfigError);
    expect(() => parseServeConfig({ threads: "-1" }, {})).toThrow(/--threads \(or MEDGATE_THREADS\)/u);
    expect(() => parseServeConfig({ gpu: "tpu" }, {})).toThrow(/--gpu/u);
  });

  it("takes each role's default key limits from flags or MEDGATE_<ROLE>_RPM|TPM, none by default", () => {
    const config = parseServeConfig(
      { clientRpm: "60" },
      { MEDGATE_CLIENT_TPM: "20000", MEDGATE_ADMIN_RPM: "600" },
    );
    expect(config).toMatchObject({ clientRpm: 60, clientTpm: 20000, adminRpm: 600 });
    expect(config.clinicianRpm).toBeUndefined();
    expect(config.adminTpm).toBeUndefined();
    expect(() => parseServeConfig({ clinicianTpm: "0" }, {})).toThrow(
      /--clinician-tpm \(or MEDGATE_CLINICIAN_TPM\)/u,
    );
  });

  it("maps option names to variable names", () => {
    expect(envNameOf("drainTimeout")).toBe("MEDGATE_DRAIN_TIMEOUT");
  });
});
