"""The benchmark's own databases: a SQLite file under bench/out/ or the MariaDB
database `aiplatform_bench`, created, migrated, loaded once and kept.

Nothing here imports Django models: it runs before django.setup(), which has
to see DATABASE_URL and VECTOR_INDEX_DIR in the environment first.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ROOT

OUT = ROOT / "bench" / "out"
FULL_LOGS = 1_000_000
MYSQL_HOST, MYSQL_PORT, MYSQL_USER = "127.0.0.1", 3306, "root"


@dataclass(frozen=True)
class BenchDatabase:
    kind: str  # "sqlite" or "mysql"
    logs: int

    @property
    def name(self) -> str:
        # The default size gets the plain name; a --quick or --logs run its own database, so that
        # switching between them does not reload a million rows.
        suffix = "" if self.logs == FULL_LOGS else f"_{self.logs}"
        return f"aiplatform_bench{suffix}"

    @property
    def sqlite_path(self) -> Path:
        return OUT / f"conversations-{self.logs}.sqlite3"

    @property
    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        return f"mysql://{MYSQL_USER}:@{MYSQL_HOST}:{MYSQL_PORT}/{self.name}"

    @property
    def vector_dir(self) -> Path:
        # Chunk ids are the database's, so each database has its own index.
        return OUT / "vectors" / f"{self.kind}-{self.logs}"

    @property
    def label(self) -> str:
        return str(self.sqlite_path.relative_to(ROOT)) if self.kind == "sqlite" else f"MariaDB {self.name}"

    def environ(self) -> dict[str, str]:
        """What settings must read: this database, its vector index, quiet logs, offline providers."""
        return {
            "DATABASE_URL": self.url,
            "VECTOR_INDEX_DIR": str(self.vector_dir),
            "DJANGO_READ_DOTENV": "false",
            "DJANGO_DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "API_THROTTLE_RATE": "1000000/min",
            "LLM_PROVIDER": "local",
            "EMBEDDINGS_PROVIDER": "use",
        }

    def exists(self) -> bool:
        if self.kind == "sqlite":
            return self.sqlite_path.exists()
        with _mysql() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [self.name])
            return cursor.fetchone() is not None

    def create(self) -> None:
        if self.kind == "sqlite":
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            return
        with _mysql() as conn, conn.cursor() as cursor:
            cursor.execute(
                f"CREATE DATABASE IF NOT EXISTS `{self.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )

    def drop(self) -> None:
        """Remove the database and its vector index."""
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
        else:
            with _mysql() as conn, conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
        shutil.rmtree(self.vector_dir, ignore_errors=True)

    def size_bytes(self) -> int | None:
        if self.kind == "sqlite":
            return sum(
                os.path.getsize(f"{self.sqlite_path}{s}")
                for s in ("", "-wal")
                if Path(f"{self.sqlite_path}{s}").exists()
            )
        with _mysql() as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = %s",
                [self.name],
            )
            (size,) = cursor.fetchone()
            return int(size or 0)


def _mysql():
    import MySQLdb

    return MySQLdb.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password="", charset="utf8mb4")


def mysql_variables(names: list[str]) -> dict[str, str]:
    with _mysql() as conn, conn.cursor() as cursor:
        cursor.execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN (" + ", ".join(["%s"] * len(names)) + ")", names)
        return dict(cursor.fetchall())
