"""The offline `local` provider: extractive answers with source markers."""

import asyncio
import time

import pytest

from aiplatform import llm
from aiplatform.llm import local

SOURCES = """다음 자료만 사용해서 답하고, 근거를 [n]으로 표시하세요.

[1] 로그는 매일 자정에 저장된다. 보관 기간은 30일이다.
[2] 검색은 형태소 단위로 동작한다.
[3] 관리자는 대시보드에서 사용량을 확인할 수 있다."""


def ask(question: str, context: str | None = SOURCES) -> list[dict]:
    messages = [{"role": "system", "content": context}] if context is not None else []
    return [*messages, {"role": "user", "content": question}]


def complete(messages, **options):
    return llm.complete(messages, provider="local", **options)


class TestAnswer:
    def test_quotes_the_matching_sentence_with_its_marker(self):
        completion = complete(ask("로그는 언제 저장되나요?"))
        assert completion.text == "로그는 매일 자정에 저장된다 [1]."
        assert completion.provider == "local"
        assert completion.model == "extractive-v1"
        assert completion.finish_reason == "stop"

    def test_hangul_bigrams_match_inflected_words(self):
        context = "[1] 시스템은 어제 로그를 저장했다.\n[2] 날씨가 맑았다."
        assert complete(ask("로그 저장", context)).text == "시스템은 어제 로그를 저장했다 [1]."

    def test_several_sentences_come_in_source_order_with_their_markers(self):
        text = complete(ask("로그 보관 기간과 검색 단위는?")).text
        assert text == "로그는 매일 자정에 저장된다 [1]. 보관 기간은 30일이다 [1]. 검색은 형태소 단위로 동작한다 [2]."

    def test_at_most_three_sentences(self):
        context = "\n".join(f"[{n}] 로그 항목 {n}번이 저장된다." for n in range(1, 7))
        assert complete(ask("로그 항목", context)).text.count("[") == 3

    def test_latin_words_are_matched_case_insensitively(self):
        context = "[1] Logs are rotated daily. [2] Search uses an inverted index."
        context = context.replace(" [2]", "\n[2]")
        assert complete(ask("How often are LOGS rotated?", context)).text == "Logs are rotated daily [1]."

    def test_instructions_are_not_evidence_when_sources_are_given(self):
        # "근거" and "표시" appear only in the instruction line.
        assert complete(ask("근거 표시")).text == local.NO_ANSWER

    def test_context_without_markers_is_quoted_plainly(self):
        history = [
            {"role": "system", "content": "Backups run every night. Reports are weekly."},
            {"role": "user", "content": "When do backups run?"},
        ]
        assert complete(history).text == "Backups run every night."

    @pytest.mark.parametrize(
        "messages",
        [
            ask("로그는 언제 저장되나요?", context=None),
            ask("배포 절차는?"),
            [{"role": "system", "content": SOURCES}],
        ],
        ids=["no-context", "no-overlap", "no-question"],
    )
    def test_falls_back_to_a_fixed_answer(self, messages):
        assert complete(messages).text == local.NO_ANSWER == "제공된 자료에서 질문에 대한 답을 찾지 못했습니다."

    def test_is_deterministic(self):
        assert complete(ask("로그 검색")).text == complete(ask("로그 검색")).text

    def test_token_counts_are_word_counts(self):
        completion = complete(ask("로그는 언제 저장되나요?"))
        assert completion.prompt_tokens == len(SOURCES.split()) + 3
        assert completion.completion_tokens == len(completion.text.split())
        assert completion.latency_ms > 0

    def test_max_tokens_cuts_the_answer(self):
        completion = complete(ask("로그는 언제 저장되나요?"), max_tokens=2)
        assert completion.text == "로그는 매일"
        assert completion.finish_reason == "length"


class TestStream:
    def test_joined_deltas_equal_the_complete_answer(self):
        messages = ask("로그 보관 기간과 검색 단위는?")
        with llm.stream(messages, provider="local") as chunks:
            deltas = list(chunks)
        assert len(deltas) > 3
        assert "".join(deltas) == chunks.result.text == complete(messages).text
        assert chunks.result.completion_tokens == len(chunks.result.text.split())
        assert chunks.result.finish_reason == "stop"

    def test_close_stops_the_stream(self, settings):
        settings.LOCAL_LLM_TOKEN_DELAY = 0.05
        started = time.perf_counter()
        chunks = llm.stream(ask("로그 보관 기간과 검색 단위는?"), provider="local")
        first = next(chunks)
        chunks.close()
        chunks.close()
        assert list(chunks) == []
        assert chunks.text_so_far == first
        assert chunks.result is None
        assert time.perf_counter() - started < 0.5

    def test_token_delay_spaces_the_deltas(self, settings):
        settings.LOCAL_LLM_TOKEN_DELAY = 0.02
        chunks = llm.stream(ask("로그는 언제 저장되나요?"), provider="local")
        assert "".join(chunks) == "로그는 매일 자정에 저장된다 [1]."
        assert chunks.result.latency_ms >= 4 * 20


class TestAsync:
    def test_acomplete_matches_complete(self):
        messages = ask("로그 검색")
        assert asyncio.run(llm.acomplete(messages, provider="local")).text == complete(messages).text

    def test_astream_matches_complete(self):
        messages = ask("로그 보관 기간과 검색 단위는?")

        async def collect():
            async with llm.astream(messages, provider="local") as chunks:
                return [delta async for delta in chunks], chunks.result

        deltas, result = asyncio.run(collect())
        assert "".join(deltas) == result.text == complete(messages).text

    def test_aclose_stops_the_stream(self, settings):
        settings.LOCAL_LLM_TOKEN_DELAY = 0.05

        async def first_then_close():
            chunks = llm.astream(ask("로그 보관 기간과 검색 단위는?"), provider="local")
            first = await anext(chunks)
            await chunks.aclose()
            await chunks.aclose()
            return first, [delta async for delta in chunks], chunks

        first, rest, chunks = asyncio.run(first_then_close())
        assert rest == []
        assert chunks.text_so_far == first
        assert chunks.result is None
