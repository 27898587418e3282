"""aiplatform.embeddings: the multilingual USE model (offline) and the
OpenAI-compatible provider (against the test server)."""

import threading

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from aiplatform import embeddings
from aiplatform.errors import DomainError, InvalidInput, UpstreamError
from tests.support.openai_server import embedding_for

TEXTS = ["the cat sat on the mat", "고양이가 매트 위에 앉았다", "", "주식 투자는 위험하다", "Stock prices fell today."]


@pytest.fixture(autouse=True)
def _use_provider(settings):
    settings.EMBEDDINGS_PROVIDER = "use"
    settings.EMBEDDINGS_BATCH_SIZE = 256


def test_use_shape_dtype_and_unit_rows():
    vectors = embeddings.embed(TEXTS)
    assert vectors.shape == (5, 512)
    assert vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embeddings.dimension() == 512
    assert embeddings.model_name() == "use-multilingual-v3"


def test_use_empty_input():
    vectors = embeddings.embed([])
    assert vectors.shape == (0, 512)
    assert vectors.dtype == np.float32


def test_batches_give_the_same_vectors(settings):
    whole = embeddings.embed(TEXTS)
    np.testing.assert_allclose(embeddings.embed(TEXTS, batch_size=2), whole, atol=1e-5)
    settings.EMBEDDINGS_BATCH_SIZE = 1
    np.testing.assert_allclose(embeddings.embed(TEXTS), whole, atol=1e-5)


def test_korean_and_english_meet():
    cat_ko, cat_en, stocks_ko = embeddings.embed(["고양이가 앉았다", "the cat sat", "주식 투자"])
    assert cat_ko @ cat_en > cat_ko @ stocks_ko + 0.3


def test_concurrent_callers_get_the_serial_vectors():
    expected = embeddings.embed(TEXTS)
    results: dict[int, np.ndarray] = {}

    def work(slot: int) -> None:
        results[slot] = embeddings.embed(TEXTS)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for vectors in results.values():
        np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_a_question_embeds_on_query_threads(settings, monkeypatch):
    settings.EMBEDDINGS_QUERY_THREADS = 1
    settings.EMBEDDINGS_THREADS = 2
    blas = ThreadpoolController().select(user_api="blas")
    backend = embeddings._use()._model
    encode = backend._encode
    used = []

    def spy(texts):
        used.append({library["num_threads"] for library in blas.info()})
        return encode(texts)

    monkeypatch.setattr(backend, "_encode", spy)
    many = TEXTS * 4

    question = embeddings.embed(TEXTS[:1])
    batch = embeddings.embed(many)

    assert used == [{1}, {2}]
    np.testing.assert_allclose(question[0], batch[0], atol=1e-5)


@pytest.mark.parametrize("texts", ["a plain string", ["ok", 3], [None], ["ok", b"bytes"], 42])
def test_texts_must_be_strings(texts):
    with pytest.raises(InvalidInput) as exc:
        embeddings.embed(texts)
    assert exc.value.field == "texts"


def test_batch_size_must_be_positive():
    with pytest.raises(InvalidInput) as exc:
        embeddings.embed(["a"], batch_size=0)
    assert exc.value.field == "batch_size"


# --- "openai" ---------------------------------------------------------------


@pytest.fixture
def openai_settings(settings, openai_server):
    settings.EMBEDDINGS_PROVIDER = "openai"
    settings.OPENAI_EMBEDDING_MODEL = "test-embedding"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_TIMEOUT = 5.0
    return settings


def test_openai_embeds_in_batches_and_normalises(openai_settings, openai_server):
    vectors = embeddings.embed(TEXTS, batch_size=2)
    assert vectors.shape == (5, 64)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, [embedding_for(text, 64) for text in TEXTS], atol=1e-6)
    sent = [request.body["input"] for request in openai_server.requests_to("/v1/embeddings")]
    assert sent == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]
    assert embeddings.model_name() == "openai:test-embedding"


def test_openai_dimension_is_learnt_once(openai_settings, openai_server):
    assert embeddings.dimension() == 64
    assert embeddings.embed([]).shape == (0, 64)
    embeddings.embed(["one"])
    assert embeddings.dimension() == 64
    assert len(openai_server.requests_to("/v1/embeddings")) == 2  # the first dimension() and embed(["one"])


def test_openai_dimension_change_is_an_upstream_error(openai_settings, openai_server):
    embeddings.embed(["one"])
    openai_server.embedding_dim = 32
    with pytest.raises(UpstreamError):
        embeddings.embed(["two"])


def test_openai_failure_is_a_domain_error(openai_settings):
    openai_settings.OPENAI_EMBEDDING_MODEL = "fail-503"
    with pytest.raises(DomainError) as exc:
        embeddings.embed(["one"])
    assert exc.value.status_code == 503
