"""rag/evaluate.py: recall / MRR arithmetic and the eval run on a small fixture."""

import json

import pytest

from rag.config import ChunkSettings, EmbedderSettings, Settings
from rag.evaluate import (
    evaluate_retrieval,
    first_gold_rank,
    gold_text_rank,
    read_jsonl,
    retrieval_metrics,
    temporary_index,
)
from rag.types import Hit


def test_first_gold_rank():
    assert first_gold_rank(["a", "b", "g", "g"], "g") == 3
    assert first_gold_rank(["a", "b"], "g") is None


def _hit(article_id: str, text: str) -> Hit:
    return Hit(0, 0.5, 0.5, text, article_id, "t", "p", 0, len(text))


def test_gold_text_rank_counts_a_twin_passage_with_the_gold_text():
    lead = "جمال خاشقجي صحفي سعودي."
    gold_text = f"{lead}\nويكتب عمودا في صحيفة واشنطن بوست."
    other = _hit("b", "نهر النيل يجري في مصر.")
    assert gold_text_rank([other, _hit("lead", lead), _hit("g", gold_text)], "g", gold_text) == 2
    assert (
        gold_text_rank([other, _hit("whole", f"مقدمة. {lead} ويكتب عمودا في صحيفة واشنطن بوست. ختام")], "g", gold_text)
        == 2
    )
    assert gold_text_rank([other, _hit("g", "ما تبقى")], "g", gold_text) == 2  # the gold article itself
    assert gold_text_rank([other, _hit("near", "جمال خاشقجي صحفي.")], "g", gold_text) is None
    assert gold_text_rank([other], "g", "") is None  # gold text unknown: by its id only


def test_recall_and_mrr_arithmetic():
    metrics = retrieval_metrics([1, 2, 6, None], [1, 5, 10])
    assert metrics["n_questions"] == 4
    assert metrics["recall@1"] == 0.25
    assert metrics["recall@5"] == 0.5
    assert metrics["recall@10"] == 0.75
    assert metrics["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 6) / 4)


def test_read_jsonl_plain_and_gzip(tmp_path):
    import gzip

    rows = [{"id": i} for i in range(5)]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as out:
        out.write("\n".join(json.dumps(r) for r in rows))
    assert read_jsonl(tmp_path / "a.jsonl") == rows
    assert read_jsonl(tmp_path / "a.jsonl.gz", limit=2) == rows[:2]


def test_evaluate_on_a_tiny_fixture(fake_embedder):
    passages = [
        {"id": "p1", "lang": "ar", "title": "أ", "text": "عاصمة تونس هي مدينة تونس."},
        {"id": "p2", "lang": "ar", "title": "ب", "text": "يجري نهر النيل في مصر والسودان."},
    ]
    questions = [
        {"id": "q1", "lang": "ar", "question": "ما هي عاصمة تونس؟", "passage_id": "p1"},
        {"id": "q2", "lang": "ar", "question": "أين يجري نهر النيل؟", "passage_id": "p2"},
    ]
    settings = Settings(
        embedder=EmbedderSettings(model="fake-embedder", cache=None),
        chunking=ChunkSettings(max_tokens=50, overlap_tokens=5),
    )
    with temporary_index(settings, passages, embedder=fake_embedder) as index:
        result = evaluate_retrieval(index, questions, [1, 5], "lexical", show_progress=False)
    assert result["recall@1"] == 1.0 and result["by_lang"]["ar"]["n_questions"] == 2
    assert result["gold_text_recall@1"] == 1.0


def test_a_gold_out_question_whose_answer_another_passage_states_is_not_really_unanswerable(fake_embedder):
    from rag.evaluate import answer_found_elsewhere

    passages = [
        {"id": "p1", "title": "أ", "text": "عاصمة تونس هي مدينة تونس."},
        {"id": "p2", "title": "ب", "text": "يجري نهر النيل في مصر والسودان."},
        {"id": "p3", "title": "ج", "text": "يمر النيل بالسودان قبل مصر."},
    ]
    questions = [
        {"id": "q1", "lang": "ar", "question": "ما هي عاصمة تونس؟", "passage_id": "p1", "answers": ["مدينة تونس"]},
        {"id": "q2", "lang": "ar", "question": "أين يجري النيل؟", "passage_id": "p2", "answers": ["السودان"]},
        {"id": "q3", "lang": "en", "question": "Where?", "passage_id": "p2", "answers": ["x"], "answers_alt": ["مصر"]},
    ]
    settings = Settings(
        embedder=EmbedderSettings(model="fake-embedder", cache=None),
        chunking=ChunkSettings(max_tokens=50, overlap_tokens=5),
    )
    with temporary_index(settings, passages, embedder=fake_embedder) as index:
        assert answer_found_elsewhere(index, questions) == [False, True, True]  # "بالسودان" folds to hold it


def test_span_scores_are_squad_exact_match_and_token_f1_after_normalisation():
    from rag.evaluate import span_scores

    assert span_scores("مارك روته", ["مارك روته"]) == (True, 1.0)
    assert span_scores("الرئيس مارك روته", ["مارك روته"]) == (False, pytest.approx(0.8))
    assert span_scores("ألاسكا", ["الاسكا"]) == (True, 1.0)  # alef forms folded
    assert span_scores("بيسكوف", ["ميامي"]) == (False, 0.0)


def test_summary_separates_shown_spans_and_unanswerable_questions():
    from rag.evaluate import summarize

    def row(**values):
        base = {"answerable": True, "abstained": False, "correct": True, "cited_gold": True, "invalid_citations": 0}
        support = {"cites_answer": True, "cited_span_holds_answer": True}
        return base | support | {"span": None, "span_confidence": None} | values

    rows = [
        row(span="a", span_exact_match=True, span_f1=1.0, span_holds_answer=True),
        row(span="b c", span_exact_match=False, span_f1=0.5, span_holds_answer=False, cited_gold=False),  # a sibling
        row(cites_answer=False, cited_span_holds_answer=False, cited_gold=False, correct=False),
        row(abstained=True, correct=False, cited_gold=False),
        row(answerable=False, abstained=True, correct=False, cited_gold=False),
    ]
    summary = summarize(rows)
    assert summary["answer_accuracy"] == 0.5 and summary["citation_precision"] == pytest.approx(1 / 3)
    assert summary["citation_support"] == pytest.approx(2 / 3)  # the sibling passage held the answer too
    assert summary["citation_span_support"] == pytest.approx(2 / 3)
    assert summary["correctly_cited_rate"] == 0.25
    assert summary["span_shown_rate"] == pytest.approx(2 / 3) and summary["span_precision_when_shown"] == 0.5
    assert summary["span_exact_match"] == 0.5 and summary["span_f1"] == 0.75
    assert summary["n_unanswerable"] == 1 and summary["abstention_rate_unanswerable"] == 1.0
