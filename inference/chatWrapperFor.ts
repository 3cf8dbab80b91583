// Picks how conversations are rendered for a model: its own Jinja template first, a known family second.
import {
  ChatMLChatWrapper,
  type ChatWrapper,
  Llama3ChatWrapper,
  type LlamaModel,
  resolveChatWrapper,
  TemplateChatWrapper,
} from "node-llama-cpp";
import type { ChatTemplateFamily } from "./catalog.ts";

/**
 * The GGUF's embedded chat template wins (node-llama-cpp renders it, or an equivalent built-in wrapper it
 * has checked against the template). Files without one fall back to the catalog's family for the model,
 * then to node-llama-cpp's own guess from the architecture.
 */
export function chatWrapperFor(model: LlamaModel, fallback?: ChatTemplateFamily): ChatWrapper {
  const embedded = model.fileInfo.metadata.tokenizer?.chat_template;
  if (typeof embedded === "string" && embedded.length > 0) return resolveChatWrapper(model);
  switch (fallback) {
    case "llama3":
      return new Llama3ChatWrapper();
    case "chatml":
      return new ChatMLChatWrapper();
    case "human-assistant":
      // LLaMA-Factory's "default" template, which the Hippo models were fine-tuned with.
      return new TemplateChatWrapper({
        template: "{{systemPrompt}}{{history}}Assistant: {{completion}}\nHuman: ",
        historyTemplate: {
          system: "{{message}}\n",
          user: "Human: {{message}}\n",
          model: "Assistant: {{message}}\n",
        },
      });
    default:
      return resolveChatWrapper(model);
  }
}
