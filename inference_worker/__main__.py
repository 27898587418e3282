"""`python -m inference_worker [--once] [--env-file PATH]`: serve pathology
analysis requests until SIGTERM/SIGINT (or one request with --once)."""

import argparse
import logging
import os
import sys
from pathlib import Path

from .client import PathologyClient, WorkerAPIError
from .config import ConfigError, WorkerConfig, env_file_read
from .worker import PipelineAnalyzer, Worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="process at most one request, then exit")
    parser.add_argument(
        "--env-file", metavar="PATH", help="KEY=VALUE settings under the environment (default: ./.env if present)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    env_file = args.env_file or (".env" if Path(".env").is_file() else None)
    try:
        if env_file:
            # The pipeline reads its own settings from the environment: it sees the file's too.
            for name, value in env_file_read(env_file).items():
                os.environ.setdefault(name, value)
        config = WorkerConfig.from_env()
    except ConfigError as exc:
        print(f"inference_worker: {exc}", file=sys.stderr)
        return 2
    client = PathologyClient(
        config.api_url,
        config.api_key,
        timeout=config.read_timeout,
        connect_timeout=config.connect_timeout,
        retries=config.max_retries,
        host=config.host,
        device=config.device,
        version=config.version,
    )
    worker = Worker(config, client, PipelineAnalyzer(config, client))
    try:
        if args.once:
            worker.run_once()
        else:
            worker.run_forever()
    except WorkerAPIError as exc:
        logging.getLogger("inference_worker").error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
