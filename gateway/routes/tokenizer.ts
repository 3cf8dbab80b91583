// POST /tokenize, POST /detokenize, GET /tokenizer_info (admin keys only), as vLLM serves them: the tokenizer
// of an in-process model, for remote scorers and lm-evaluation-harness's remote tokenizer.
import { Hono } from "hono";
import type { Token } from "node-llama-cpp";
import type { GatewayEnv } from "../appTypes.ts";
import { toEngineMessage } from "../chat/chatRequestMapping.ts";
import { BadRequestError } from "../errors.ts";
import { parseJsonBody } from "../parseRequest.ts";
import { detokenizeRequest, tokenizeRequest } from "../protocol.ts";
import { scoringEngineFor } from "../scoring/scoringEngine.ts";

export const tokenizerRoutes = new Hono<GatewayEnv>()
  .post("/tokenize", async (c) => {
    const deps = c.get("deps");
    const request = await parseJsonBody(c, tokenizeRequest);
    using scoring = await scoringEngineFor(deps.models, deps.versions, request.model);
    const { engine } = scoring;
    let tokens: number[];
    if ("prompt" in request) {
      tokens = engine.tokenize(request.prompt, {
        bos: request.add_special_tokens ?? true,
        special: request.parse_special ?? true,
      });
    } else {
      // The generation prompt opens a turn after a last message that is not the assistant's; continuing the
      // final message leaves a last assistant message open. Both may be asked: each applies to its own case.
      tokens = engine.renderChat(request.messages.map(toEngineMessage), {
        generationPrompt: request.add_generation_prompt ?? true,
        closeFinal: !(request.continue_final_message ?? false),
      });
    }
    return c.json({
      count: tokens.length,
      max_model_len: engine.info.contextSize,
      tokens,
      token_strs: null,
    });
  })
  .post("/detokenize", async (c) => {
    const deps = c.get("deps");
    const request = await parseJsonBody(c, detokenizeRequest);
    using scoring = await scoringEngineFor(deps.models, deps.versions, request.model);
    const vocabulary = scoring.engine.vocabularySize;
    const bad = request.tokens.findIndex((token) => token >= vocabulary);
    if (bad >= 0) {
      throw new BadRequestError(
        `Token id ${request.tokens[bad]} is outside the model's vocabulary of ${vocabulary} tokens.`,
        `tokens[${bad}]`,
        "invalid_token",
      );
    }
    return c.json({ prompt: scoring.engine.detokenize(request.tokens as Token[]) });
  })
  .get("/tokenizer_info", async (c) => {
    const deps = c.get("deps");
    using scoring = await scoringEngineFor(deps.models, deps.versions, c.req.query("model"));
    const { engine } = scoring;
    const textOf = (token: Token | null) => (token === null ? null : engine.detokenize([token]));
    const { tokens } = engine.model;
    return c.json({
      tokenizer_class: "gguf",
      bos_token: textOf(tokens.bos),
      eos_token: textOf(tokens.eos),
      pad_token: null,
      model_max_length: engine.info.contextSize,
    });
  });
