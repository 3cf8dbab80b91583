// Picks how conversations are rendered for a model: its own Jinja template first, a known family second.
import {
  ChatMLChatWrapper,
  type ChatWrapper,
  JinjaTemplateChatWrapper,
  Llama3ChatWrapper,
  type LlamaModel,
  LlamaText,
  resolveChatWrapper,
  SpecialToken,
  TemplateChatWrapper,
} from "node-llama-cpp";
import type { ChatTemplateFamily } from "./catalog.ts";

/**
 * The GGUF's embedded chat template wins (node-llama-cpp renders it, or an equivalent built-in wrapper it
 * has checked against the template). Files without one fall back to the catalog's family for the model,
 * then to node-llama-cpp's own guess from the architecture.
 */
export function chatWrapperFor(model: LlamaModel, fallback?: ChatTemplateFamily): ChatWrapper {
  return withTokenizerBos(pickChatWrapper(model, fallback), model);
}

function pickChatWrapper(model: LlamaModel, fallback?: ChatTemplateFamily): ChatWrapper {
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

/**
 * node-llama-cpp's built-in wrappers (ChatML, Llama 3, ...) always begin the conversation with BOS. Where the
 * model's tokenizer adds no BOS (SmolLM2, whose BOS is `<|im_start|>`, would otherwise see it twice), the
 * conversation is rendered as the model was trained on it, as transformers renders the chat template: the
 * leading BOS is dropped. A Jinja template that writes `bos_token` itself keeps it.
 */
function withTokenizerBos(wrapper: ChatWrapper, model: LlamaModel): ChatWrapper {
  if (model.tokens.shouldPrependBosToken || wrapper instanceof JinjaTemplateChatWrapper) return wrapper;
  return new Proxy(wrapper, {
    get(target, property) {
      if (property === "generateContextState") {
        return (options: Parameters<ChatWrapper["generateContextState"]>[0]) => {
          const state = target.generateContextState(options);
          const [first, ...rest] = state.contextText.values;
          return first instanceof SpecialToken && first.value === "BOS"
            ? { ...state, contextText: LlamaText(rest) }
            : state;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
