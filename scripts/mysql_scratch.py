"""Exit 0 after making sure the scratch database of a mysql:// URL exists,
1 when the server does not answer. Used by scripts/test."""

import sys

import environ
import MySQLdb


def main(url: str) -> int:
    config = environ.Env.db_url_config(url)
    try:
        conn = MySQLdb.connect(
            host=config["HOST"] or "127.0.0.1",
            port=int(config["PORT"] or 3306),
            user=config["USER"],
            passwd=config["PASSWORD"] or "",
            connect_timeout=3,
        )
    except MySQLdb.OperationalError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    name = config["NAME"].replace("`", "")
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
