from uvicorn_worker import UvicornWorker as BaseUvicornWorker


class UvicornWorker(BaseUvicornWorker):
    """uvicorn under gunicorn; Django has no ASGI lifespan handler, so the
    lifespan protocol is switched off instead of probed on every start."""

    CONFIG_KWARGS = {"loop": "auto", "http": "auto", "lifespan": "off"}
