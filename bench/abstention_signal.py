"""Which signal best tells "the articles answer this" from "they don't"? For each question, features
of the best evidence with the gold passage present and with it left out; rules are fitted on one
slice of the questions (max abstention with false abstention ≤ a cap) and scored on another.

    python bench/abstention_signal.py [--set xquad_ar] [--train 200:600] [--test 0:200] [--cap 0.09]
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
from pathlib import Path

import numpy as np

from rag import Assistant, Settings
from rag.evaluate import contains_answer, gold_article_id, read_jsonl, temporary_index
from rag.evidence import content_terms, term_overlap

SHARED = Path(__file__).resolve().parents[2] / "shared"
FEATURES = (
    "score",
    "cosine",
    "overlap",
    "idf_coverage",
    "top_similarity",
    "gap",
    "type_ok",
    "qa_cosine",
    "fact_cosine",
    "llm_yes",
)
# EmbeddingGemma's task prompts other than retrieval's, from its model card.
TASK_PROMPTS = {"qa_cosine": "task: question answering | query: ", "fact_cosine": "task: fact checking | query: "}
# Questions that ask for a number or a date, and what such an answer looks like.
NUMERIC_QUESTION = re.compile(r"(^|\s)(كم|متى|عام|سنة|سنوات|عدد|how many|how much|when|what year)(\s|$)", re.IGNORECASE)
NUMERIC_ANSWER = re.compile(
    r"[0-9٠-٩]|(^|\s)(واحد|اثن|ثلاث|أربع|اربع|خمس|ست|سبع|ثمان|تسع|عشر|مئة|مائة|ألف|الف|مليون|مليار)"
)


# Gemma-3-270M asked, as a completion with examples, whether the sentence answers the question.
JUDGE_EXAMPLES = """Does the sentence answer the question? Answer yes or no.

Question: في أي عام افتتح متحف اللوفر للجمهور؟
Sentence: افتتح متحف اللوفر أبوابه للجمهور عام 1793 بعد الثورة الفرنسية.
Answer: yes

Question: كم يبلغ طول نهر النيل؟
Sentence: يمر نهر النيل بإحدى عشرة دولة قبل أن يصب في البحر المتوسط.
Answer: no

Question: من صمم برج إيفل؟
Sentence: صمم المهندس غوستاف إيفل البرج الذي سمي باسمه لمعرض باريس عام 1889.
Answer: yes

Question: ما هي عاصمة أستراليا؟
Sentence: تعد سيدني أكبر مدن أستراليا وأكثرها سكانا.
Answer: no

"""


class Judge:
    """Logit of " yes" minus " no" after the examples, reusing their KV cache."""

    def __init__(self) -> None:
        from llama_cpp import Llama

        from rag.models import llm_location

        models = Settings().models
        self.llm = Llama(model_path=str(llm_location(models.llm, models.cache_dir)), n_ctx=2048, verbose=False)
        self.yes, self.no = (self.llm.tokenize(w.encode(), add_bos=False)[0] for w in (" yes", " no"))

    def __call__(self, question: str, sentence: str) -> float:
        prompt = f"{JUDGE_EXAMPLES}Question: {question}\nSentence: {sentence}\nAnswer:"
        tokens = self.llm.tokenize(prompt.encode(), add_bos=True)
        keep = min(self.llm.longest_token_prefix(self.llm.input_ids[: self.llm.n_tokens], tokens), len(tokens) - 1)
        self.llm.n_tokens = keep
        self.llm.eval(tokens[keep:])
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),))
        return float(logits[self.yes] - logits[self.no])


def idf_table(index) -> dict[str, float]:
    """BM25 idf of every indexed term (from the lexical index's posting lists)."""
    model = index.store.lexical._model
    pointers = np.asarray(model.scores["indptr"])
    documents = model.scores["num_docs"]
    frequency = np.diff(pointers)
    return {
        term: math.log(1 + (documents - frequency[i] + 0.5) / (frequency[i] + 0.5))
        for term, i in model.vocab_dict.items()
        if i < len(frequency)  # bm25s keeps a placeholder entry past the real terms
    }


def idf_coverage(question: str, text: str, idf: dict[str, float], unseen: float) -> float:
    """Share of the question's content terms, weighted by idf, that the text contains."""
    wanted = content_terms(question)
    if not wanted:
        return 1.0
    found = content_terms(text)
    total = sum(idf.get(t, unseen) for t in wanted)
    return sum(idf.get(t, unseen) for t in wanted & found) / total


def features(
    assistant: Assistant, question: str, exclude: frozenset[str], idf, unseen, judge: Judge
) -> dict[str, float]:
    hits = assistant.retrieve(question, exclude)
    evidence = assistant.evidence(question, hits)
    if not evidence:
        return {name: -1.0 for name in FEATURES} | {"text": ""}
    best = evidence[0]
    embedder = assistant.index.embedder
    document = embedder.encode_documents([best.text])[0]
    by_task = {
        name: float(document @ embedder.model.encode(question, prompt=prompt, normalize_embeddings=True))
        for name, prompt in TASK_PROMPTS.items()
    }
    return by_task | {
        "llm_yes": judge(question, best.text),
        "score": best.score,
        "cosine": float(document @ embedder.encode_query(question)),
        "overlap": term_overlap(question, best.text),
        "idf_coverage": idf_coverage(question, best.text, idf, unseen),
        "top_similarity": max(h.similarity for h in hits),
        # How far the best evidence stands out from the best one in another passage.
        "gap": best.score - max((e.score for e in evidence if e.hit.article_id != best.hit.article_id), default=0.0),
        "type_ok": float(not NUMERIC_QUESTION.search(question) or bool(NUMERIC_ANSWER.search(best.text))),
        "text": best.text,
    }


def best_rule(present: np.ndarray, absent: np.ndarray, cap: float) -> tuple[tuple[float, ...], float]:
    """Thresholds (one per feature column, all must pass) with the most abstention at false abstention ≤ cap."""
    grids = [
        np.quantile(np.concatenate([present[:, j], absent[:, j]]), np.linspace(0, 0.9, 46))
        for j in range(present.shape[1])
    ]
    best: tuple[tuple[float, ...], float] = ((), -1.0)
    for thresholds in itertools.product(*grids):
        t = np.array(thresholds)
        false = np.mean(~(present >= t).all(axis=1))
        if false <= cap:
            abstain = np.mean(~(absent >= t).all(axis=1))
            if abstain > best[1]:
                best = (tuple(float(x) for x in t), float(abstain))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="xquad_ar")
    parser.add_argument("--train", default="200:600")
    parser.add_argument("--test", default="0:200")
    parser.add_argument("--cap", type=float, default=0.09)
    args = parser.parse_args()
    settings = Settings()
    settings.answer.evidence_margin = 2.0  # rank every evidence window, for the gap feature
    settings.answer.evidence = 20
    passages = read_jsonl(SHARED / f"eval/{args.set}/passages.jsonl")
    questions = read_jsonl(SHARED / f"eval/{args.set}/questions.jsonl")
    slices = {name: slice(*map(int, spec.split(":"))) for name, spec in (("train", args.train), ("test", args.test))}
    rows: dict[str, list] = {}
    with temporary_index(settings, passages) as index:
        assistant = Assistant(index)
        idf = idf_table(index)
        unseen = max(idf.values())
        judge = Judge()
        for name, part in slices.items():
            rows[name] = []
            for q in questions[part]:
                gold = frozenset({gold_article_id(q["passage_id"])})
                golds = q["answers"] + (q.get("answers_alt", []) if q["lang"] != "ar" else [])
                present = features(assistant, q["question"], frozenset(), idf, unseen, judge)
                absent = features(assistant, q["question"], gold, idf, unseen, judge)
                rows[name].append((present, absent, contains_answer(present["text"], golds)))
    matrix = {
        name: (
            np.array([[p[f] for f in FEATURES] for p, _, _ in part]),
            np.array([[a[f] for f in FEATURES] for _, a, _ in part]),
            np.array([c for _, _, c in part]),
        )
        for name, part in rows.items()
    }
    (train_p, train_a, _), (test_p, test_a, test_correct) = matrix["train"], matrix["test"]
    print(f"{args.set}: train {len(train_p)} questions, test {len(test_p)}; fitted at false abstention ≤ {args.cap}")
    print(
        f"{'rule':42s} {'thresholds':34s} {'train abst':>10s} {'test false':>10s} {'test abst':>9s} {'test acc kept':>13s}"
    )
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.ones(len(test_p)), np.zeros(len(test_a))]
    print(
        "test AUC (answerable vs gold left out): "
        + ", ".join(
            f"{name} {roc_auc_score(labels, np.r_[test_p[:, j], test_a[:, j]]):.3f}" for j, name in enumerate(FEATURES)
        )
    )
    columns = list(range(len(FEATURES)))
    for chosen in [*([j] for j in columns), *itertools.combinations(columns, 2)]:
        chosen = list(chosen)
        thresholds, train_abstain = best_rule(train_p[:, chosen], train_a[:, chosen], args.cap)
        if not thresholds:
            continue
        t = np.array(thresholds)
        answered = (test_p[:, chosen] >= t).all(axis=1)
        print(
            f"{' & '.join(FEATURES[j] for j in chosen):42s} {', '.join(f'{x:.3f}' for x in thresholds):34s} "
            f"{train_abstain:10.3f} {np.mean(~answered):10.3f} {np.mean(~(test_a[:, chosen] >= t).all(axis=1)):9.3f} "
            f"{np.mean(answered & test_correct):13.3f}"
        )


if __name__ == "__main__":
    main()
