"""aiplatform.text: Korean-aware terms, keywords, sentences and chunks."""

from aiplatform import text


def test_search_terms_reduce_korean_words_to_their_stems():
    assert text.search_terms("로그를 검색했다") == ["로그", "검색"]
    assert "로그" in text.search_terms("서버 오류 로그 확인")  # not 오류+로 그
    assert text.search_terms("로그인") == ["로그인"]


def test_latin_words_are_lower_cased_split_and_plural_folded():
    assert text.search_terms("Server LOGS, GPT-4o") == ["server", "log", "gpt", "4o"]
    assert text.search_terms("status class") == ["status", "class"]


def test_keywords_drop_stopwords_particles_and_numbers():
    assert text.keywords("오늘 the 서버 로그를 2026 확인해 주세요 please") == ["서버", "로그", "확인"]


def test_fulltext_tokens_are_padded_to_three_characters():
    assert text.fulltext_document(["로그", "ai", "서버로그"]) == " 로그_ ai_ 서버로그 "
    assert text.query_tokens("로그를") == ("로그_",)
    assert text.fulltext_document([]) == ""


def test_sentences_split_on_korean_endings_without_full_stops():
    sentences = text.split_sentences(
        "오늘은 날씨가 좋네요 그런데 비가 올까요? 네 그래요\n\nSecond paragraph. Two sentences."
    )

    assert sentences[0] == "오늘은 날씨가 좋네요"
    assert "Second paragraph." in sentences and sentences[-1] == "Two sentences."


def test_chunks_keep_whole_sentences_within_the_limit_with_overlap():
    body = " ".join(f"{i}번째 문장은 검색 품질을 위한 예시입니다." for i in range(40))

    chunks = text.chunk_text(body, max_chars=120, overlap_sentences=1)

    assert len(chunks) > 5
    assert all(len(chunk) <= 120 for chunk in chunks)
    assert all(chunk.endswith("니다.") for chunk in chunks)
    assert chunks[0].split(". ")[-1] in chunks[1]  # the last sentence is repeated


def test_an_overlong_sentence_is_cut_at_spaces():
    chunks = text.chunk_text("word " * 100, max_chars=50)

    assert all(len(chunk) <= 50 for chunk in chunks)
    assert sum(chunk.count("word") for chunk in chunks) == 100
