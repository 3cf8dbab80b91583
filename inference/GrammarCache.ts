// The grammars that enforce JSON output, compiled once per schema (a bounded cache; a failed compile is not kept).
import type { Llama, LlamaGrammar } from "node-llama-cpp";
import type { ResponseConstraint } from "./chatTypes.ts";
import { InvalidGenerationRequestError } from "./errors.ts";
import { toGrammarSchema } from "./grammarSchema.ts";

export class GrammarCache {
  readonly #llama: Llama;
  readonly #grammars = new Map<string, Promise<LlamaGrammar>>();

  constructor(llama: Llama) {
    this.#llama = llama;
  }

  /** The grammar for a response format, or undefined for free text; a schema it cannot enforce is a 400. */
  grammarFor(format: ResponseConstraint | undefined): Promise<LlamaGrammar | undefined> {
    if (format === undefined || format.type === "text") return Promise.resolve(undefined);
    let key: string;
    try {
      key = format.type === "json_object" ? "json" : JSON.stringify(format.schema);
    } catch {
      // Only a schema nested past the engine's stack gets here.
      const error = new InvalidGenerationRequestError(
        "The JSON schema is nested too deeply.",
        "response_format.json_schema.schema",
      );
      return Promise.reject(error);
    }
    let grammar = this.#grammars.get(key);
    if (!grammar) {
      const llama = this.#llama;
      grammar =
        format.type === "json_object"
          ? llama.getGrammarFor("json")
          : Promise.resolve()
              .then(() => llama.createGrammarForJsonSchema(toGrammarSchema(format.schema) as never))
              .catch((error: unknown) => {
                if (error instanceof InvalidGenerationRequestError) throw error;
                throw new InvalidGenerationRequestError(
                  `The JSON schema cannot be turned into a grammar: ${error instanceof Error ? error.message : String(error)}`,
                  "response_format.json_schema.schema",
                );
              });
      this.#grammars.set(key, grammar);
      // A failed compile is not cached: the next request gets a fresh attempt and the same clear error.
      grammar.catch(() => this.#grammars.delete(key));
      if (this.#grammars.size > 64) this.#grammars.delete(this.#grammars.keys().next().value!);
    }
    return grammar;
  }
}
