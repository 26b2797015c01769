"""rag/ui.py helpers: the sources panel, upload filtering and build summaries (no server started)."""

from pathlib import Path

from rag import Answer, BuildReport, Citation, Hit
from rag.schemas import AnswerRecord
from rag.ui import add_articles, build_summary, sources_html


def test_sources_panel_highlights_the_cited_span_and_escapes_html():
    hit = Hit(3, 0.9, 0.9, "قال <b>بيسكوف</b> إن الاجتماع مهم. ثم غادر.", "a.txt", "عنوان & خبر", "a.txt", 100, 140)
    answer = Answer("q", "بيسكوف [1]", False, "ar", (Citation(1, hit, 100, 134),), (hit,), (hit,), "generated")
    panel = sources_html(answer)
    assert "<mark>قال &lt;b&gt;بيسكوف&lt;/b&gt; إن الاجتماع مهم.</mark> ثم غادر." in panel
    assert "[1] عنوان &amp; خبر" in panel and "dir='auto'" in panel
    assert "checked against its source" in panel


def test_abstention_shows_no_sources():
    assert "No passage" in sources_html(Answer("q", "no", True, "en", method="abstained"))


def test_add_articles_copies_allowed_files_and_refuses_others(tmp_path: Path):
    upload, seeds = tmp_path / "upload", tmp_path / "seeds"
    upload.mkdir()
    seeds.mkdir()
    (upload / "خبر.txt").write_text("نص", encoding="utf-8")
    (upload / "tool.exe").write_bytes(b"MZ")
    (upload / "big.md").write_bytes(b"x" * (2 * 2**20))
    refused = add_articles([str(p) for p in sorted(upload.iterdir())], seeds, max_mb=1)
    assert [p.name for p in seeds.iterdir()] == ["خبر.txt"]
    assert any(r.startswith("tool.exe: not an article file") for r in refused)
    assert any(r.startswith("big.md: 2.0 MB is over the 1 MB limit") for r in refused)


def test_build_summary_lists_changes_and_skipped_files():
    report = BuildReport(True, "articles changed", 3, 9, 1.5, ["x.txt: skipped, empty file"], 1, 1, 0, 1, 4)
    assert build_summary(report) == (
        "Indexed 3 articles: 1 added, 1 updated, 0 removed, 1 unchanged (1.5s).\n- x.txt: skipped, empty file"
    )


def test_answer_span_is_bold_inside_the_highlighted_sentence_and_survives_a_reload():
    from rag import Span
    from rag.ui import answer_from_dict, as_text, feedback_record

    text = "رفض بوتين مزاعم رئيس الناتو مارك روته. ثم غادر."
    hit = Hit(3, 0.9, 0.9, text, "a.txt", "قمة", "a.txt", 100, 100 + len(text))
    sentence_end = 100 + text.index(" ثم")
    start = 100 + text.index("مارك")
    span = Span("مارك روته", start, start + len("مارك روته"), -0.4)
    answer = Answer(
        "من رئيس الناتو؟",
        "الإجابة: **مارك روته** [1]",
        False,
        "ar",
        (Citation(1, hit, 100, sentence_end),),
        (hit,),
        (hit,),
        "extractive",
        answer_span=span,
    )
    panel = sources_html(answer)
    assert "<mark>رفض بوتين مزاعم رئيس الناتو <strong>مارك روته</strong>.</mark> ثم غادر." in panel
    # The browser keeps answers as their JSON; the panel restored from it is the same.
    assert sources_html(answer_from_dict(AnswerRecord.of(answer).model_dump())) == panel
    copied = as_text(AnswerRecord.of(answer).model_dump())
    assert copied.startswith("الإجابة: مارك روته [1]") and "[1] قمة (a.txt): رفض بوتين" in copied
    liked = feedback_record(AnswerRecord.of(answer).model_dump(), True, " دقيق ", ["سؤال سابق"], "gen-000002")
    assert liked["rating"] == "up" and liked["comment"] == "دقيق" and liked["answers"] == ["مارك روته"]
    assert liked["history"] == ["سؤال سابق"] and liked["passage_id"] == "a.txt" and liked["answerable"] is True
    assert liked["index_generation"] == "gen-000002" and liked["citations"][0]["span_text"].endswith("روته.")
    assert feedback_record(AnswerRecord.of(answer).model_dump(), False, "", [], "gen-1")["answers"] == []


def test_chat_html_shows_article_markup_as_text_and_keeps_the_answer_bold():
    from rag.ui import chat_html

    message = chat_html("الإجابة: **بيسكوف** [1]\n\nقال ![x](http://127.0.0.1:9/leak) <img src=x> [a](http://b)")
    assert "<img" not in message and "&lt;img src=x&gt;" in message
    assert "<strong>بيسكوف</strong>" in message and "\n" not in message
    assert message.count("<p dir='auto'>") == 2  # one paragraph per line; no blank line ends the HTML block
    assert "<a " not in message


def test_sources_show_title_source_date_and_link_to_the_original_not_offsets():
    from dataclasses import replace

    from rag.ui import answer_from_dict

    base = Hit(3, 0.9, 0.9, "قال بيسكوف إن الاجتماع مهم.", "n.jsonl#7", "قمة", "n.jsonl", 100, 128)
    hit = replace(base, source="Jawhara FM", date="2025-11-29", url="https://www.example.tn/ar/%D8%AE%D8%A8%D8%B1")
    answer = Answer("q", "بيسكوف [1]", False, "ar", (Citation(1, hit, 100, 128),), (hit,), (hit,), "generated")
    panel = sources_html(answer)
    assert "[1] قمة · Jawhara FM · 2025-11-29" in panel
    assert (
        "href='https://www.example.tn/ar/%D8%AE%D8%A8%D8%B1'" in panel and ">https://www.example.tn/ar/خبر</a>" in panel
    )
    assert "rel='noopener noreferrer nofollow'" in panel and "100" not in panel
    assert sources_html(answer_from_dict(AnswerRecord.of(answer).model_dump())) == panel
    hostile = replace(hit, url="javascript:alert(1)")
    panel = sources_html(replace(answer, citations=(Citation(1, hostile, 100, 128),)))
    assert "javascript" not in panel and "n.jsonl</small>" in panel


class BlockedAssistant:
    """Answers nothing until released: the chat's questions stay in flight."""

    def __init__(self, server: object) -> None:
        import threading
        from types import SimpleNamespace

        from rag.config import Settings

        self.index = SimpleNamespace(settings=Settings(server=server))
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def stream(self, question: str, history: object, progress: bool = False):
        from rag.types import Progress

        self.started.release()
        self.release.wait(30)
        yield Progress("searching")


def test_the_chat_refuses_a_long_question_and_past_its_rate():
    import gradio as gr
    import pytest

    from rag.config import ServerSettings
    from rag.server.limits import Limits
    from rag.ui import Chat

    server = ServerSettings(rate_limit=2)
    assistant = BlockedAssistant(server)
    assistant.release.set()
    chat = Chat(assistant, Limits.of(server))
    with pytest.raises(gr.Error, match="over the limit of 2,000"):
        list(chat.respond("س" * 1_000_000, [], [], []))
    for _ in range(2):
        assert list(chat.respond("سؤال", [], [], []))
    with pytest.raises(gr.Error, match="2 requests a minute"):
        list(chat.respond("سؤال", [], [], []))


def test_the_19th_chat_question_while_18_are_in_flight_is_told_busy():
    """2 answer workers and 16 waiting places (the defaults), shared with the HTTP API: the 19th is refused at
    once, the page left as it was."""
    import threading

    import gradio as gr
    import pytest

    from rag.config import ServerSettings
    from rag.server.limits import Limits
    from rag.ui import Chat

    server = ServerSettings()
    assistant = BlockedAssistant(server)
    limits = Limits.of(server)
    chat = Chat(assistant, limits)
    flights = [threading.Thread(target=lambda: list(chat.respond("سؤال", [], [], []))) for _ in range(18)]
    for flight in flights:
        flight.start()
    for _ in range(2):  # both workers are answering, 16 questions wait
        assert assistant.started.acquire(timeout=10)
    deadline = threading.Event()
    while limits.answers.taken < 18 and not deadline.wait(0.01):
        pass
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "answer"}]
    refused = chat.respond("سؤال", history, [], [])
    assert next(refused)[0] == history  # the chat as it was
    with pytest.raises(gr.Error, match="busy; retry in"):
        next(refused)
    assistant.release.set()
    for flight in flights:
        flight.join(10)
    assert limits.answers.taken == 0
    assert list(chat.respond("سؤال", [], [], []))  # free again
