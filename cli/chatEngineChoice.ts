// Which engine answers chat for `medgate serve`, and why (serve prints it at start): --engine node-llama-cpp or
// llama-server as asked; auto, the default: llama-server where a binary is found, else the in-process engine,
// while llama-server builds in the background (the name then moves to it by a hot swap) or for good where none
// can be built.
import type { ChatEngine, LoadModel, NameServingOptions } from "../gateway/models/NameServing.ts";
import { LlamaServerBuild, llamaServerAvailability } from "../inference/LlamaServerBuild.ts";
import { findLlamaServerBinary } from "../inference/LlamaServerProcess.ts";
import { ConfigError, type ServeConfig } from "./config.ts";

export type ChatEngineChoice = {
  engine: ChatEngine;
  /** Which engine answers and why, for the log. */
  why: string;
  /** With auto and no binary: the build to start in the background. */
  build?: { command: string; logPath: string };
  /** With auto and a binary: a GGUF that llama-server cannot serve (no chat template it has) is served in-process. */
  fallBack?: boolean;
};

/** Decides before anything starts, so that a missing llama-server for --engine llama-server fails at once. */
export function chatEngineChoice(
  config: Pick<ServeConfig, "engine" | "llamaServer" | "llamaServerBuild">,
  env: Readonly<Record<string, string | undefined>>,
): ChatEngineChoice {
  const inProcess = { kind: "node-llama-cpp" } as const;
  if (config.engine === "node-llama-cpp") {
    return { engine: inProcess, why: "chat on the in-process engine (--engine node-llama-cpp)" };
  }
  if (config.engine === "llama-server") {
    try {
      const binary = findLlamaServerBinary(config.llamaServer, env);
      return { engine: { kind: "llama-server", binary }, why: `chat on llama-server (binary ${binary})` };
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }
  let available: ReturnType<typeof llamaServerAvailability>;
  try {
    available = llamaServerAvailability(config.llamaServer, config.llamaServerBuild, env);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  switch (available.kind) {
    case "found":
      return {
        engine: { kind: "llama-server", binary: available.binary },
        why: `chat on llama-server (binary ${available.binary}; --engine auto)`,
        fallBack: true,
      };
    case "buildable":
      return {
        engine: inProcess,
        why: `chat on the in-process engine while llama-server builds (log: ${available.logPath}); moves to llama-server when ready`,
        build: available,
      };
    case "unavailable":
      return {
        engine: inProcess,
        why: `chat on the in-process engine (--engine auto): ${available.reason}`,
      };
  }
}

/**
 * Starts the choice's build, if any, in the background (`own` takes it, to stop it with serve), and returns what
 * `NameServing` needs: the loader for now and, while building, the upgrade to llama-server when the build succeeds.
 */
export function startChatEngine(
  choice: ChatEngineChoice,
  loaderFor: (engine: ChatEngine) => LoadModel,
  own: (build: LlamaServerBuild) => void,
  env: Readonly<Record<string, string | undefined>>,
  log: (message: string) => void,
): Pick<NameServingOptions, "load" | "upgrade"> {
  const load = chosenLoader(choice, loaderFor, log);
  if (!choice.build) return { load };
  const build = LlamaServerBuild.start(choice.build.command, choice.build.logPath, env);
  own(build);
  const upgrade = build.done.then((binary) => {
    if (!binary) {
      if (build.stopped) return undefined;
      log(
        `the llama-server build did not finish (log: ${build.logPath}); chat stays on the in-process engine.`,
      );
      return undefined;
    }
    return {
      load: loaderFor({ kind: "llama-server", binary }),
      why: `llama-server is built: ${binary}`,
    };
  });
  return { load, upgrade };
}

/**
 * The loader of the engine chosen, without starting anything: with auto and a binary found, a GGUF that llama-server
 * cannot serve (no chat template it has) loads in-process, saying so.
 */
export function chosenLoader(
  choice: ChatEngineChoice,
  loaderFor: (engine: ChatEngine) => LoadModel,
  log: (message: string) => void,
): LoadModel {
  const load = loaderFor(choice.engine);
  if (!choice.fallBack) return load;
  const inProcess = loaderFor({ kind: "node-llama-cpp" });
  return (modelPath) =>
    load(modelPath).catch((error: Error) => {
      log(`llama-server cannot serve ${modelPath} (${error.message}); chat on the in-process engine.`);
      return inProcess(modelPath);
    });
}
