"""Text analysis shared by the apps: Korean-aware sentences, chunks, search
terms and keywords.

Korean attaches particles and endings to words (로그를, 로그가, 검색했다), so
matching whole words would never find 로그 in 로그를. Kiwi splits text into
morphemes; we keep the content morphemes (nouns, verb and adjective stems,
roots) and Latin words, which is what both the stored document and the query
are reduced to before they are compared.
"""

import itertools
import re
import threading
from collections.abc import Iterable
from functools import lru_cache

from . import english

_kiwi = None
_kiwi_lock = threading.Lock()

# Morpheme tags kept as search terms: common/proper/dependent nouns, verb and
# adjective stems, roots, foreign (Latin) words, Chinese characters, numbers.
_SEARCH_TAGS = {"NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SH", "SN", "NNB"}
# Keywords are what people talk about: nouns and Latin words only.
_KEYWORD_TAGS = {"NNG", "NNP", "SL", "SH"}

KOREAN_STOPWORDS = frozenset(
    [
        "것",
        "수",
        "등",
        "때",
        "곳",
        "중",
        "데",
        "바",
        "점",
        "번",
        "분",
        "개",
        "명",
        "좀",
        "안",
        "더",
        "이",
        "그",
        "저",
        "거",
        "뭐",
        "무엇",
        "어디",
        "여기",
        "저기",
        "정도",
        "경우",
        "관련",
        "대한",
        "통해",
        "위해",
        "우리",
        "저희",
        "제",
        "나",
        "너",
        "당신",
        "이번",
        "다음",
        "지금",
        "오늘",
        "내일",
        "어제",
        "질문",
        "답변",
        "문의",
        "내용",
        "부분",
        "생각",
        "사용",
        "방법",
        "하나",
        "가지",
    ]
)
ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "else",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "i",
        "you",
        "he",
        "she",
        "it",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "its",
        "our",
        "their",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "not",
        "no",
        "yes",
        "so",
        "than",
        "too",
        "very",
        "just",
        "also",
        "there",
        "here",
        "all",
        "any",
        "some",
        "each",
        "more",
        "most",
        "other",
        "such",
        "only",
        "own",
        "same",
        "s",
        "t",
        "don",
        "now",
        "up",
        "down",
        "out",
        "over",
        "under",
        "again",
        "further",
        "once",
        "please",
        "tell",
        "know",
        "want",
        "need",
        "get",
        "make",
    ]
)

# Minimum indexed token length of MariaDB/MySQL InnoDB full-text indexes
# (innodb_ft_min_token_size, a read-only server setting). Most Korean nouns
# are two syllables, so shorter terms are padded with "_" (a word character
# for InnoDB and, by our FTS5 tokenizer option, for SQLite) when stored and
# when searched.
FULLTEXT_MIN_TOKEN = 3
_LATIN_WORD = re.compile(r"[a-z0-9]+")
# Words with Hangul, CJK or other non-ASCII letters go to Kiwi; plain ASCII does not need it.
_LATIN_SENTENCE_END = re.compile(r"(?<=[a-z0-9][.!?])\s+(?=[A-Z])")
_NEEDS_KIWI = re.compile(r"[^\x00-\x7f]")


def kiwi():
    """The process-wide Kiwi analyser (about 1.5 s and 300 MB to load, and
    as long again for its first analysis, so loaded once, on first use)."""
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                from kiwipiepy import Kiwi

                _kiwi = Kiwi(num_workers=-1)
    return _kiwi


def _normalise_latin(word: str) -> str:
    word = word.lower()
    # A conservative plural fold so "logs" finds "log"; applied to stored text
    # and queries alike, so it only has to be consistent, not linguistic.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


@lru_cache(maxsize=200_000)
def _word_morphemes(word: str) -> tuple[tuple[str, str], ...]:
    """(form, tag) of one space-separated word, analysed on its own.

    Analysing whole sentences lets Kiwi join across spaces ("오류 로그" can
    come out as 오류+로(particle) 그), and the same word must always give the
    same terms for search to be reliable. Words are Zipf-distributed, hence
    the cache."""
    if not _NEEDS_KIWI.search(word):
        return tuple((_normalise_latin(w), "SL") for w in _LATIN_WORD.findall(word.lower()))
    out = []
    for token in kiwi().tokenize(word):
        if token.tag == "SL":
            out.extend((_normalise_latin(w), "SL") for w in _LATIN_WORD.findall(token.form.lower()))
        else:
            out.append((token.form.lower(), token.tag))
    return tuple(out)


def _morphemes(text: str, tags: set[str]) -> list[str]:
    return [form for word in text.split() for form, tag in _word_morphemes(word[:100]) if tag in tags and form]


# Kiwi's id of a noun it does not know (an out-of-vocabulary run of syllables).
_UNKNOWN_NOUN_ID = 2
_NOUN_TAGS = {"NNG", "NNP"}
_HANGUL = re.compile(r"^[가-힣]+$")
# Verbs that turn the noun before them into a verb, like 하다 and 되다
# (XSV, never kept): 발급받다 is found under 발급.
_LIGHT_VERBS = {"받", "시키", "당하", "드리"}
# Candidates asked of Kiwi when its best analysis of a word is ill-formed.
_ALTERNATIVES = 6


def _ill_formed(tokens) -> bool:
    """An analysis no Korean word can have: a determiner inside a word, or
    a particle followed by anything but particles, endings, the copula or
    symbols. Kiwi's language model prefers such readings for some compounds
    of a loanword (대화로그 as 대화 + particle 로 + determiner 그)."""
    for previous, token in itertools.pairwise(tokens):
        if previous.tag.startswith("S"):
            continue
        if token.tag == "MM":
            return True
        if previous.tag.startswith("J") and not token.tag.startswith(("J", "E", "S", "VCP")):
            return True
    return False


@lru_cache(maxsize=50_000)
def _known_noun(form: str) -> bool:
    tokens = kiwi().tokenize(form)
    return len(tokens) == 1 and tokens[0].tag in _NOUN_TAGS and tokens[0].id != _UNKNOWN_NOUN_ID


def _unknown_compound_parts(form: str) -> list[str]:
    """An unknown noun of four syllables or more split before the longest
    known noun it ends with (임베딩모델 -> 임베딩, 모델), both parts at least
    two syllables; [form] when there is none. Korean compounds put their head
    last, and Kiwi glues an unknown word to the known one after it."""
    for cut in range(2, len(form) - 1):
        if _known_noun(form[cut:]):
            return [form[:cut], form[cut:]]
    return [form]


def _analysis(word: str):
    """Kiwi's best analysis of a word, or its best well-formed one when the
    best is ill-formed."""
    tokens = kiwi().tokenize(word)
    if _ill_formed(tokens):
        for candidate, _score in kiwi().analyze(word, top_n=_ALTERNATIVES):
            if not _ill_formed(candidate):
                return candidate
    return tokens


@lru_cache(maxsize=50_000)
def _noun_parts(form: str) -> list[str]:
    """The parts of a noun as Kiwi splits it on its own (비밀번호 -> 비밀,
    번호), else of an unknown compound (see _unknown_compound_parts), else
    [form]. Kiwi splits a compound or not depending on what follows it
    (비밀번호에서 stays whole, 비밀번호 변경 does not), and a term must not
    depend on its neighbours, so every noun is reduced to its own parts."""
    if len(form) < 3 or not _HANGUL.match(form):
        return [form]
    tokens = _analysis(form)
    if len(tokens) > 1 and all(token.tag in _NOUN_TAGS for token in tokens):
        return [token.form for token in tokens]
    if len(tokens) == 1 and tokens[0].id == _UNKNOWN_NOUN_ID and len(form) >= 4:
        return _unknown_compound_parts(form)
    return [form]


@lru_cache(maxsize=200_000)
def _word_search_terms(word: str) -> tuple[str, ...]:
    """Search terms of one space-separated word: its content morphemes as
    for `_word_morphemes`, with English words reduced to their stem
    (aiplatform.english), an ill-formed analysis replaced by Kiwi's best
    well-formed one and unknown compound nouns split into their parts, so
    that a part of a compound finds the compound (로그 finds 대화로그)."""
    if not _NEEDS_KIWI.search(word):
        return tuple(english.stem(_normalise_latin(w)) for w in _LATIN_WORD.findall(word.lower()))
    tokens = _analysis(word)
    out = []
    for previous, token in zip([None, *tokens], tokens, strict=False):
        form = token.form.lower()
        if previous is not None and previous.tag == "NNG" and form in _LIGHT_VERBS and token.tag.startswith("VV"):
            # 발급받다, 승인시키다: the noun carries the meaning, as in 발급하다.
            continue
        if token.tag == "NNP" and form[-1] in "이가" and _known_noun(form[:-1]):
            # A name where a noun and its subject particle fit (수정이 is
            # 수정 + 이 far more often than someone called 수정이).
            out.extend(_noun_parts(form[:-1]))
        elif token.tag == "SL":
            out.extend(english.stem(_normalise_latin(w)) for w in _LATIN_WORD.findall(token.form.lower()))
        # Irregular stems carry their class after a dash (새롭 VA-I, 걷 VV-I).
        elif token.tag.split("-")[0] in _SEARCH_TAGS:
            out.extend(_noun_parts(form) if token.tag in _NOUN_TAGS else [form])
    return tuple(term for term in out if term)


def search_terms(text: str) -> list[str]:
    """Distinct normalised terms of a text, in first-seen order: what is
    stored for full-text search and what a query is reduced to.

    Korean inflections fold to their stem (먹었다 -> 먹), compounds to their
    parts (환불규정 -> 환불, 규정), English forms to their stem (exported ->
    export). Loanwords Kiwi knows as one word stay whole: 로그 does not find
    로그인 (login)."""
    return list(dict.fromkeys(term for word in text.split() for term in _word_search_terms(word[:100])))


def morpheme_tokens(text: str) -> list[str]:
    """Content morphemes of a text in order, repeats kept (term frequency
    matters to a classifier): nouns, verb and adjective stems, roots,
    numbers and Latin words."""
    return _morphemes(text, _SEARCH_TAGS)


def keywords(text: str) -> list[str]:
    """Distinct nouns and Latin words of a text, stopwords removed."""
    out = []
    for term in _morphemes(text, _KEYWORD_TAGS):
        if len(term) < 2 or term.isdigit() or term in KOREAN_STOPWORDS or term in ENGLISH_STOPWORDS:
            continue
        out.append(term)
    return list(dict.fromkeys(out))


def fulltext_token(term: str) -> str:
    """The stored and searched form of a term (see FULLTEXT_MIN_TOKEN)."""
    return term + "_" * (FULLTEXT_MIN_TOKEN - len(term)) if len(term) < FULLTEXT_MIN_TOKEN else term


def fulltext_document(terms: Iterable[str]) -> str:
    """Space-separated stored form, with a leading and trailing space so that a
    plain LIKE '% term %' also works on databases without a full-text index."""
    tokens = " ".join(fulltext_token(term) for term in terms)
    return f" {tokens} " if tokens else ""


@lru_cache(maxsize=4096)
def query_tokens(query: str) -> tuple[str, ...]:
    """Full-text tokens a search query must all match."""
    return tuple(fulltext_token(term) for term in search_terms(query))


def split_sentences(text: str) -> list[str]:
    """Sentences of a Korean, English or mixed text (Kiwi's splitter knows
    Korean endings such as -다, -요 without a full stop)."""
    sentences = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        # A Markdown heading is a sentence of its own, without its marks.
        while paragraph.startswith("#"):
            heading, _newline, paragraph = paragraph.partition("\n")
            if heading.strip("# "):
                sentences.append(heading.strip("# "))
            paragraph = paragraph.strip()
        if not paragraph:
            continue
        for sentence in kiwi().split_into_sents(paragraph):
            # Kiwi is tuned for Korean; split what it leaves of English prose.
            sentences.extend(part.strip() for part in _LATIN_SENTENCE_END.split(sentence.text) if part.strip())
    return sentences


def chunk_text(text: str, *, max_chars: int = 800, overlap_sentences: int = 1) -> list[str]:
    """Split a text into chunks of whole sentences up to max_chars each.

    Consecutive chunks share `overlap_sentences` sentences so an answer that
    spans a boundary is still retrievable. A single sentence longer than
    max_chars is cut at whitespace.
    """
    sentences = []
    for sentence in split_sentences(text):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            sentences.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            sentences.append(sentence)
    chunks: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        if current and len(" ".join([*current, sentence])) > max_chars:
            chunks.append(" ".join(current))
            kept = current[-overlap_sentences:] if overlap_sentences else []
            current = kept if len(" ".join([*kept, sentence])) <= max_chars else []
        current.append(sentence)
    if current:
        chunks.append(" ".join(current))
    return chunks
