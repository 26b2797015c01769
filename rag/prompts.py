"""Every prompt and fixed phrase in one place."""

from __future__ import annotations

from collections.abc import Sequence

# Said, without calling the model, when no passage is relevant enough.
NO_ANSWER = {
    "ar": "لا تتضمن المقالات إجابة عن هذا السؤال.",
    "en": "The articles do not contain the answer to this question.",
}
READER_STOPPED = (
    "The reader stopped while this answer was made (it starts again for the next question), so the answer was "
    "made without it: the evidence quoted, with no answer span, and abstention decided without its signal."
)
LANGUAGE_NAME = {"ar": "Arabic", "en": "English"}
# Extractive answers quote the evidence after this lead, in the question's language. The quote is a
# paragraph of its own so that it takes its own reading direction (an Arabic quote in an English answer).
ACCORDING_TO = {"ar": "بحسب [{n}]:\n\n{sentence}", "en": "According to [{n}]:\n\n{sentence}"}
# When the model is sure of the span that answers, it comes first, in bold, with the sentence that holds it
# quoted below (the span in bold there too).
ANSWER_FIRST = {
    "ar": "الإجابة: **{span}** [{n}]\n\nبحسب [{n}]:\n\n{sentence}",
    "en": "Answer: **{span}** [{n}]\n\nAccording to [{n}]:\n\n{sentence}",
}

INSTRUCTIONS = (
    "Answer the question using only the numbered sentences from news articles. Reply in {language} with one or two short "
    "sentences, and cite the passage that supports each sentence as [n]. If the passages do not contain "
    "the answer, reply exactly: {no_answer}"
)

# A base model (no chat template) is prompted as a completion: the examples show the format and
# that the answer follows the question's language, not the passages'. The answer starts with the
# passage number ("Answer: [" is part of the prompt), so the model commits to a source first.
COMPLETION_EXAMPLES = """Questions answered only from numbered sentences of news articles, citing the sentence used as [n].

Passages:
[1] رفع البنك المركزي سعر الفائدة إلى خمسة بالمئة يوم الخميس.
[2] وصل الوفد المصري إلى باريس صباح الاثنين لبحث اتفاق التجارة مع الحكومة الفرنسية.
Question: إلى أين وصل الوفد المصري؟
Answer: [2] باريس

Passages:
[1] أعلن وزير الصحة أن الحملة ستشمل مليون طفل في عشر محافظات.
[2] افتتح المهرجان السينمائي دورته الجديدة بفيلم وثائقي عن البحر.
Question: How many children will the campaign cover?
Answer: [1] one million children

"""
COMPLETION_ANSWER_START = "["
COMPLETION_QUERY = (
    """Passages:
{passages}
Question: {question}
Answer: """
    + COMPLETION_ANSWER_START
)
COMPLETION_STOPS = ["\nQuestion:", "\nPassages:", "\n"]


def numbered(passages: Sequence[str]) -> str:
    """Passages as '[1] text' lines, on one line each."""
    return "\n".join(f"[{i}] {' '.join(text.split())}" for i, text in enumerate(passages, start=1))


def completion_prompt(question: str, passages: Sequence[str]) -> str:
    """The few-shot completion prompt for base models."""
    return COMPLETION_EXAMPLES + COMPLETION_QUERY.format(passages=numbered(passages), question=question.strip())


def chat_messages(question: str, passages: Sequence[str], language: str) -> list[dict[str, str]]:
    """System and user messages for models with a chat template."""
    system = INSTRUCTIONS.format(language=LANGUAGE_NAME[language], no_answer=NO_ANSWER[language])
    user = f"Passages:\n{numbered(passages)}\n\nQuestion: {question.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
