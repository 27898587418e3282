"""Streamed HTTP responses that stay streamed under ASGI.

Django's ASGI handler reads a *synchronous* streaming iterator to the end
before sending anything (it must, to call it from the event loop), which
would buffer a whole export in memory and turn a token stream into one late
answer. Under ASGI the iterator is therefore pulled one item at a time in the
request's thread; under WSGI it is passed through. In both cases the
iterator is closed when the client goes away, so a generator's `finally`
runs (stopping an upstream call, storing what was produced).
"""

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

_END = object()


async def _pull(iterator: Iterator) -> AsyncIterator:
    step = sync_to_async(next, thread_sensitive=True)
    try:
        while True:
            item = await step(iterator, _END)
            if item is _END:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def streaming_response(request, content: Iterator, *, content_type: str, **headers) -> StreamingHttpResponse:
    """A StreamingHttpResponse of `content` (an iterator of str or bytes)."""
    iterator = iter(content)
    body = _pull(iterator) if isinstance(getattr(request, "_request", request), ASGIRequest) else iterator
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-cache"
    # Tells nginx-style proxies not to buffer the stream.
    response["X-Accel-Buffering"] = "no"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response
