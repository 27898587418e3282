"""gunicorn settings for serving the ASGI application with uvicorn workers.

    gunicorn aiplatform.asgi:application -c gunicorn.conf.py

gunicorn supervises the worker processes (restarts a dead one, graceful
reload on HUP, max-requests recycling); each uvicorn worker runs an event
loop, so a streamed answer costs a coroutine, not a thread.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
worker_class = "aiplatform.serving.UvicornWorker"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = "-" if os.environ.get("ACCESS_LOG", "false").lower() in ("1", "true", "yes") else None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
