"""The offline `local` provider: no key, no network, deterministic.

It answers extractively from the conversation it is given, so a RAG app works
offline. The question is the last user message; the context is every other
message. A line starting with a source marker such as `[1]` opens a block that
runs until the next marker line or the end of its message, and each sentence
remembers the marker of its block. Sentences are scored by how many tokens
they share with the question (lower-cased words for Latin text, character
bigrams for Hangul so that 로그를 still matches 로그), and the best few are
quoted back in the order they appear, each followed by its marker.

Token counts are whitespace-word counts: approximations, as there is no tokenizer.
"""

from __future__ import annotations

import asyncio
import re
import time

from django.conf import settings

from .base import AsyncChatStream, ChatMessage, ChatStream, Completion, StreamMeta

PROVIDER = "local"
MODEL = "extractive-v1"
NO_ANSWER = "제공된 자료에서 질문에 대한 답을 찾지 못했습니다."
MAX_SENTENCES = 3

_MARKER_LINE = re.compile(r"^\s*\[(\d+)\]\s*")
# Split after terminal punctuation (Korean "다." / "요." included) followed by
# whitespace, so decimals like 3.5 stay whole; newlines always end a sentence.
_SENTENCE_BREAK = re.compile(r"(?<=[.?!\u3002\uff1f\uff01])\s+")
_TRAILING_PUNCT = re.compile(r"[.?!\u3002\uff1f\uff01]+$")
_HANGUL_RUN = re.compile(r"[가-힣]+")
_OTHER_WORD = re.compile(r"[^\W_가-힣]+")
_DELTA = re.compile(r"\S+\s*|\s+")

# Words that would make every sentence look relevant to every question.
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it of on or the to was what when where "  # noqa: SIM905
    "which who why with you your".split()
)
# Bigrams of Korean endings, particles and question words, for the same reason.
_HANGUL_STOP_BIGRAMS = frozenset(
    "니다 습니 합니 니까 입니 됩니 있습 없습 나요 세요 해요 까요 어요 무엇 엇인 엇을 어떻 떻게 "  # noqa: SIM905
    "언제 어디 누구 무슨 인가 는지 에서 으로 하는 하고 있는 에게 한다 된다".split()
)


def tokens(text: str) -> set[str]:
    """Tokens used for overlap: Latin words and Hangul character bigrams."""
    text = text.lower()
    found = {word for word in _OTHER_WORD.findall(text) if word not in _STOPWORDS}
    for run in _HANGUL_RUN.findall(text):
        found.update(run[i : i + 2] for i in range(len(run) - 1))
    return found - _HANGUL_STOP_BIGRAMS


def _sentences(text: str) -> list[tuple[str | None, str]]:
    """(marker, sentence) pairs of one message, in order."""
    out = []
    marker = None
    for line in text.splitlines():
        match = _MARKER_LINE.match(line)
        if match:
            marker = match.group(1)
            line = line[match.end() :]
        out.extend((marker, s.strip()) for s in _SENTENCE_BREAK.split(line) if s.strip())
    return out


def answer(messages: list[ChatMessage]) -> str:
    """The extractive answer for a validated conversation."""
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if last_user is None:
        return NO_ANSWER
    question = tokens(messages[last_user]["content"])
    candidates = [pair for i, m in enumerate(messages) if i != last_user for pair in _sentences(m["content"])]
    # With sources present, instructions and earlier turns are not evidence.
    if any(marker for marker, _ in candidates):
        candidates = [(marker, s) for marker, s in candidates if marker]

    scored, seen = [], set()
    for position, (marker, sentence) in enumerate(candidates):
        score = len(question & tokens(sentence))
        if score > 0 and sentence not in seen:
            seen.add(sentence)
            scored.append((score, position, marker, sentence))
    best = sorted(scored, key=lambda item: (-item[0], item[1]))[:MAX_SENTENCES]
    if not best:
        return NO_ANSWER
    return " ".join(_cite(sentence, marker) for _, _, marker, sentence in sorted(best, key=lambda item: item[1]))


def _cite(sentence: str, marker: str | None) -> str:
    match = _TRAILING_PUNCT.search(sentence)
    punct = match.group() if match else "."
    body = sentence[: match.start()] if match else sentence
    return f"{body} [{marker}]{punct}" if marker else f"{body}{punct}"


def _word_count(text: str) -> int:
    return len(text.split())


def _generate(messages: list[ChatMessage], max_tokens: int) -> tuple[StreamMeta, list[str]]:
    """The answer split into deltas (words with their spaces), and its meta."""
    words = _DELTA.findall(answer(messages))
    finish_reason = "stop"
    if _word_count("".join(words)) > max_tokens:
        words, finish_reason = _truncate(words, max_tokens), "length"
    meta = StreamMeta(
        model=MODEL,
        prompt_tokens=sum(_word_count(m["content"]) for m in messages),
        completion_tokens=_word_count("".join(words)),
        finish_reason=finish_reason,
    )
    return meta, words


def _truncate(words: list[str], max_tokens: int) -> list[str]:
    kept, count = [], 0
    for word in words:
        count += bool(word.strip())
        if count > max_tokens:
            break
        kept.append(word)
    kept[-1:] = [kept[-1].rstrip()] if kept else []
    return kept


def default_model() -> str:
    return MODEL


def _token_delay() -> float:
    # Lets tests slow the stream down to exercise cancellation.
    return float(getattr(settings, "LOCAL_LLM_TOKEN_DELAY", 0) or 0)


def complete(messages: list[ChatMessage], *, max_tokens: int, **_options) -> Completion:
    """Answer at once. Model, temperature and timeout do not apply offline."""
    started = time.perf_counter()
    meta, words = _generate(messages, max_tokens)
    return Completion(
        text="".join(words),
        provider=PROVIDER,
        model=meta.model,
        prompt_tokens=meta.prompt_tokens,
        completion_tokens=meta.completion_tokens,
        latency_ms=(time.perf_counter() - started) * 1000,
        finish_reason=meta.finish_reason,
    )


async def acomplete(messages: list[ChatMessage], *, max_tokens: int, **_options) -> Completion:
    """Async twin of complete(); the work is too small to need a thread."""
    return complete(messages, max_tokens=max_tokens)


def stream(messages: list[ChatMessage], *, max_tokens: int, **_options) -> ChatStream:
    """Yield the complete() answer word by word, so joined deltas equal it."""
    started = time.perf_counter()
    meta, words = _generate(messages, max_tokens)
    delay = _token_delay()

    def deltas():
        for word in words:
            if delay:
                time.sleep(delay)
            yield word

    return ChatStream(deltas(), provider=PROVIDER, meta=meta, started=started)


def astream(messages: list[ChatMessage], *, max_tokens: int, **_options) -> AsyncChatStream:
    """Async twin of stream()."""

    async def opener():
        meta, words = _generate(messages, max_tokens)
        delay = _token_delay()

        async def deltas():
            for word in words:
                if delay:
                    await asyncio.sleep(delay)
                yield word

        return deltas(), meta, None

    return AsyncChatStream(opener, provider=PROVIDER, model=MODEL)
