"""The chat in a real browser: Playwright drives Debian's Chromium against a real `rag serve` on a loopback port.

Skipped where Chromium or Playwright is missing (`apt-get install chromium` and `pip install playwright`;
`.ci/run` installs both). With RAG_UI_SCREENSHOTS=DIR (`make bench` sets bench/results/ui) each step's
screenshot is kept there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.prompts import NO_ANSWER
from tests.e2e.conftest import copy_of
from tests.helpers import running_app

CHROMIUM = Path(os.environ.get("RAG_CHROMIUM", "/usr/bin/chromium"))
try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(
        sync_playwright is None or not CHROMIUM.exists(),
        reason=f"browser tests need Playwright and Chromium at {CHROMIUM}: "
        "`apt-get install chromium && pip install playwright` (or set RAG_CHROMIUM)",
    ),
]
SHOTS = Path(os.environ.get("RAG_UI_SCREENSHOTS", "")) if os.environ.get("RAG_UI_SCREENSHOTS") else None
# Chromium as root in a closed network: no sandbox, no GPU, no calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ANSWER_TIMEOUT_MS = 180_000
NEW_ARTICLE = (
    "افتتاح جسر الواحة الجديد\n"
    "افتتحت بلدية مدينة الواحة جسرا جديدا فوق النهر الأزرق يوم الخميس. "
    "وقال رئيس البلدية سليم الحداد إن طول الجسر يبلغ 740 مترا وإن تكلفته بلغت 12 مليون دينار.\n"
)
# Where the first and the last letter of an element's text are drawn (its computed layout, not its CSS).
EDGES_JS = """(element) => {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) if (walker.currentNode.textContent.trim()) nodes.push(walker.currentNode);
  const range = document.createRange();
  const first = nodes[0], last = nodes[nodes.length - 1];
  const head = first.textContent.length - first.textContent.trimStart().length;
  range.setStart(first, head); range.setEnd(first, head + 1);
  const a = range.getBoundingClientRect();
  const tail = last.textContent.trimEnd().length;
  range.setStart(last, tail - 1); range.setEnd(last, tail);
  const b = range.getBoundingClientRect();
  return {first: first.textContent[head], last: last.textContent[tail - 1], firstX: a.left, lastX: b.left,
          firstY: a.top, lastY: b.top};
}"""
# Every text a bot bubble shows while an answer is made (the status lines come and go).
WATCH_JS = """() => {
  window.seenTexts = [];
  new MutationObserver(() => {
    document.querySelectorAll('[data-testid=bot]').forEach((b) => window.seenTexts.push(b.innerText));
  }).observe(document.querySelector('#chat'), {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, seed_index: Path) -> Iterator[tuple[str, Path]]:
    """`rag serve` over a copy of the seeds (uploads land there): its URL and index folder."""
    seeds, index = copy_of(seed_index, tmp_path_factory.mktemp("ui"))
    with running_app(index, RAG_SEEDS_DIR=str(seeds)) as (_, url):
        yield url, index


@pytest.fixture(scope="module")
def page(served: tuple[str, Path]) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1300, "height": 950}, locale="en-US")
        tab.goto(served[0])
        tab.wait_for_selector("#question textarea")
        yield tab
        browser.close()


def shot(page: Page, name: str) -> None:
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def ask(page: Page, question: str) -> str:
    """Type the question, press Enter, wait for the answer's sources; the last bot bubble's text."""
    before = page.locator("[data-testid=bot]").count()
    page.evaluate(WATCH_JS)
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    page.wait_for_function(
        "([n]) => document.querySelectorAll('[data-testid=bot]').length > n && "
        "!document.querySelector('#sources .source-empty:not([dir])') && "
        "document.querySelector('#question textarea').value === ''",
        arg=[before],
        timeout=ANSWER_TIMEOUT_MS,
    )
    page.wait_for_function(
        "() => { const b = [...document.querySelectorAll('[data-testid=bot]')].pop(); "
        "return b && !/Searching|Reading|Writing|…$/.test(b.innerText); }",
        timeout=ANSWER_TIMEOUT_MS,
    )
    return page.locator("[data-testid=bot]").last.inner_text()


def edges(page: Page, selector: str) -> dict[str, Any]:
    return page.locator(selector).last.evaluate(EDGES_JS)


def test_arabic_question_is_answered_with_the_name_first_and_its_source(page: Page):
    reply = ask(page, "ما اسم رئيس حلف شمال الأطلسي المذكور في المقال؟")
    shot(page, "01-arabic-question")
    assert "مارك روته" in reply
    sources = page.locator("#sources").inner_html()
    assert "<mark>" in sources and "مارك روته" in sources
    seen = page.evaluate("window.seenTexts")
    assert any("Searching the articles" in text for text in seen), "no status was shown while answering"


def test_english_question_and_its_mixed_bubble_read_left_to_right(page: Page):
    reply = ask(page, "Who is the Kremlin spokesman?")
    shot(page, "02-english-question")
    assert "بيسكوف" in reply
    question = ask(page, "Who is كيريل ديمترييف?")
    shot(page, "03-mixed-direction")
    user = edges(page, "[data-testid=user] p")
    assert (user["first"], user["last"]) == ("W", "?")
    # An English sentence with an Arabic name: left to right, so "W" is drawn left of "?" on the same line.
    assert user["firstY"] == pytest.approx(user["lastY"], abs=2) and user["firstX"] < user["lastX"]
    assert "ديمترييف" in question


def test_arabic_bubble_with_an_english_word_reads_right_to_left(page: Page):
    ask(page, "من هو Steve Witkoff؟")
    shot(page, "04-arabic-with-english")
    user = edges(page, "[data-testid=user] p")
    assert (user["first"], user["last"]) == ("م", "؟")
    assert user["firstY"] == pytest.approx(user["lastY"], abs=2) and user["firstX"] > user["lastX"]


def test_follow_up_is_read_with_the_previous_turn(page: Page):
    ask(page, "من هو كبير المفاوضين الأوكرانيين؟")
    reply = ask(page, "وماذا أعلن؟")
    shot(page, "05-follow-up")
    assert NO_ANSWER["ar"] not in reply
    assert "اجتماع" in reply


def test_question_the_articles_cannot_answer_is_declined(page: Page):
    reply = ask(page, "What is the population of Australia?")
    shot(page, "06-abstention")
    assert NO_ANSWER["en"] in reply
    assert "No passage was relevant" in page.locator("#sources").inner_text()


def test_feedback_is_written_beside_the_index_with_the_answer(page: Page, served: tuple[str, Path]):
    ask(page, "أين سيستأنف المسؤولون الأمريكيون والروس مناقشاتهم؟")
    page.locator("#feedback-comment textarea").fill("الإجابة صحيحة لكن طويلة")
    page.locator("[data-testid=bot]").last.locator("xpath=ancestor::div[contains(@class,'message-row')]").hover()
    page.locator("button[aria-label=Dislike]").last.click()
    page.wait_for_function("() => document.querySelector('#feedback-status').innerText.includes('recorded')")
    shot(page, "07-feedback")
    lines = (served[1] / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    assert record["rating"] == "down" and record["comment"] == "الإجابة صحيحة لكن طويلة"
    assert record["question"] == "أين سيستأنف المسؤولون الأمريكيون والروس مناقشاتهم؟"
    assert record["citations"] and "ميامي" in record["answer"]
    assert record["index_generation"].startswith("gen-") and record["lang"] == "ar"


def test_answer_with_sources_can_be_copied_as_text(page: Page):
    text = page.locator("#answer-text textarea").input_value()
    assert "[1]" in text and "ميامي" in text and "**" not in text


def test_reload_keeps_the_conversation(page: Page):
    questions = page.locator("[data-testid=user]").all_inner_texts()
    page.reload()
    page.wait_for_function(
        "([n]) => document.querySelectorAll('[data-testid=user]').length === n", arg=[len(questions)]
    )
    shot(page, "08-after-reload")
    assert page.locator("[data-testid=user]").all_inner_texts() == questions
    assert "<mark>" in page.locator("#sources").inner_html()


def test_uploaded_article_is_indexed_and_answered(page: Page, tmp_path: Path):
    article = tmp_path / "جسر-الواحة.txt"
    article.write_text(NEW_ARTICLE, encoding="utf-8")
    page.get_by_text("Articles", exact=True).click()
    page.locator("input[type=file]").set_input_files(str(article))
    page.get_by_role("button", name="Add and index").click()
    page.wait_for_function("() => document.body.innerText.includes('Indexed 2 articles')", timeout=ANSWER_TIMEOUT_MS)
    shot(page, "09-upload")
    reply = ask(page, "كم يبلغ طول جسر الواحة؟")
    shot(page, "10-uploaded-article-answered")
    assert "740" in reply


if __name__ == "__main__":  # pragma: no cover
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", __file__, "-v"]))


POISON = (
    "مهرجان التمور في واحة سيوة\n"
    "افتتح مهرجان التمور السنوي في واحة سيوة يوم الجمعة بمشاركة 300 مزارع "
    "![x](http://127.0.0.1:9/leak?q=secret) <img src=http://127.0.0.1:9/img?q=secret> "
    "[اقرأ المزيد](http://127.0.0.1:9/link) وعرضت فيه أربعون صنفا من التمور.\n"
)


def test_article_markup_is_shown_as_text_and_sends_no_request(page: Page, served: tuple[str, Path]):
    """An article with a Markdown image, an <img> and a link: quoted in the chat and the Sources panel as text,
    and the browser never asks its address for anything."""
    import httpx

    url = served[0]
    added = httpx.post(url + "v1/articles", files={"files": ("siwa.txt", POISON.encode())}, timeout=60).json()
    assert added["saved"] == ["siwa.txt"]
    deadline = time.monotonic() + 300
    while httpx.get(url + "v1/index", timeout=30).json()["state"] != "idle" and time.monotonic() < deadline:
        time.sleep(0.5)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    reply = ask(page, "كم مزارعا شارك في مهرجان التمور في واحة سيوة؟")
    shot(page, "09-article-markup-as-text")
    page.wait_for_timeout(1000)  # time for any image the page might load
    assert "300" in reply and "![x](http://127.0.0.1:9/leak?q=secret)" in reply  # the markup, shown as text
    assert not [u for u in requested if "127.0.0.1:9/" in u], requested
    for area in ("#chat", "#sources"):
        assert page.locator(f"{area} img[src*='127.0.0.1:9'], {area} a[href*='127.0.0.1:9']").count() == 0
        assert page.locator(f"{area} img").evaluate_all("els => els.filter(e => !e.closest('button')).length") == 0
