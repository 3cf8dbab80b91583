"""The requests lm-evaluation-harness builds for benchmark files, with no model: its own task objects.

Run with the lm-eval venv's python (scripts/setup-lmeval.sh). For each case, this reads the benchmark file in
its public release's layout itself (not through medgate), converts each record to the Hugging Face dataset's
fields that lm-eval's task reads, loads lm-eval's own task YAML (`include:` of the installed one) over those
files, and builds the task's requests as `lm_eval run` does: `set_fewshot_seed(1234)`, `num_fewshot`, then
`build_all_requests(limit=...)`.

stdin:  {"dir": scratch folder, "cases": [{"name", "task": lm-eval task, "format": medqa|medmcqa|pubmedqa|mmlu,
         "file", "fewshot_file": path or null (null: the file itself is the few-shot split), "shots", "limit"}]}
stdout: {"lm_eval": version, "cases": {name: [{"doc_id", "context", "continuations", "doc_to_text",
         "description", "answers"}]}}  (one per doc, in doc order; `answers`: each choice's full text)
"""

import csv
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

import lm_eval
from lm_eval.tasks import TaskManager

TASKS_DIR = Path(lm_eval.__file__).parent / "tasks"

# Per format: the task YAML shipped with lm-eval, the split it evaluates and the split it takes examples from.
LAYOUT = {
    "medqa": ("medqa/medqa.yaml", "test", "train"),
    "medmcqa": ("medmcqa/medmcqa.yaml", "validation", "train"),
    "pubmedqa": ("pubmedqa/pubmedqa.yaml", "test", "train"),
    "mmlu": ("mmlu/default/mmlu_{subject}.yaml", "test", "dev"),
}


def json_lines(path):
    with open(path, encoding="utf-8-sig") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def docs_of(fmt, path, subject):
    """Records of a file in its original layout, as the Hugging Face dataset lm-eval loads holds them."""
    if fmt == "medqa":  # GBaker/MedQA-USMLE-4-options-hf
        return [
            {
                "id": str(i),
                "sent1": r["question"],
                "sent2": "",
                **{f"ending{k}": r["options"][letter] for k, letter in enumerate("ABCD")},
                "label": "ABCD".index(r["answer_idx"]),
            }
            for i, r in enumerate(json_lines(path))
        ]
    if fmt == "medmcqa":  # openlifescienceai/medmcqa: cop 0-based; the original release's is 1-based
        return [{**r, "cop": r["cop"] - 1} for r in json_lines(path)]
    if fmt == "pubmedqa":  # bigbio/pubmed_qa, pubmed_qa_labeled_fold0_source: ori_pqal.json's records
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle)
        return [{"QUESTION": r["QUESTION"], "CONTEXTS": r["CONTEXTS"], "final_decision": r["final_decision"]}
                for r in data.values()]
    if fmt == "mmlu":  # cais/mmlu
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = [row for row in csv.reader(handle) if row]
        return [{"question": q, "subject": subject, "choices": [a, b, c, d], "answer": "ABCD".index(ans.strip())}
                for q, a, b, c, d, ans in rows]
    raise ValueError(f"unknown format {fmt}")


def answer_texts(fmt, doc):
    if fmt == "medqa":
        return [doc[f"ending{k}"] for k in range(4)]
    if fmt == "medmcqa":
        return [doc["opa"], doc["opb"], doc["opc"], doc["opd"]]
    if fmt == "pubmedqa":
        return ["yes", "no", "maybe"]
    return doc["choices"]


def write_lines(path, docs):
    with open(path, "w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")


def main():
    request = json.load(sys.stdin)
    out = Path(request["dir"])
    out.mkdir(parents=True, exist_ok=True)
    for case in request["cases"]:
        fmt = case["format"]
        yaml, test_split, fewshot_split = LAYOUT[fmt]
        subject = case.get("subject")
        test_file = out / f"{case['name']}.{test_split}.jsonl"
        write_lines(test_file, docs_of(fmt, case["file"], subject))
        data_files = {test_split: str(test_file)}
        if case.get("fewshot_file"):
            fewshot_file = out / f"{case['name']}.{fewshot_split}.jsonl"
            write_lines(fewshot_file, docs_of(fmt, case["fewshot_file"], subject))
            data_files[fewshot_split] = str(fewshot_file)
            same = ""
        else:
            # The file is its own few-shot split: lm-eval then leaves each question out of its examples.
            same = f"fewshot_split: {test_split}\n"
        include = TASKS_DIR / yaml.format(subject=(subject or "").replace(" ", "_"))
        (out / f"{case['name']}.yaml").write_text(
            f"include: {json.dumps(str(include))}\n"
            f"task: {case['name']}\n"
            "dataset_path: json\n"
            "dataset_name: null\n"
            f"dataset_kwargs: {json.dumps({'data_files': data_files})}\n" + same,
            encoding="utf-8",
        )
    manager = TaskManager(include_path=str(out), include_defaults=False)
    tasks = manager.load([case["name"] for case in request["cases"]])["tasks"]
    results = {}
    for case in request["cases"]:
        task = tasks[case["name"]]
        # As lm_eval.evaluator does: the few-shot seed, num_fewshot, then the requests.
        task.set_fewshot_seed(seed=1234)
        task.set_config(key="num_fewshot", value=case["shots"])
        task.build_all_requests(limit=case["limit"], rank=0, world_size=1)
        docs = list(task.eval_docs)
        by_doc = {}
        for instance in task.instances:
            by_doc.setdefault(instance.doc_id, []).append(instance)
        rows = []
        for doc_id in sorted(by_doc):
            instances = sorted(by_doc[doc_id], key=lambda instance: instance.idx)
            doc = docs[doc_id]
            rows.append(
                {
                    "doc_id": doc_id,
                    "context": instances[0].arguments[0],
                    "contexts": sorted({instance.arguments[0] for instance in instances}),
                    "continuations": [instance.arguments[1] for instance in instances],
                    "doc_to_text": task.doc_to_text(doc),
                    "description": task.config.description or "",
                    "answers": answer_texts(case["format"], doc),
                }
            )
        results[case["name"]] = rows
    json.dump({"lm_eval": version("lm_eval"), "cases": results}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    main()
