"""Exit 0 after making sure the scratch database of a mysql:// URL exists
(and the server has its time zone tables), 1 when the server does not
answer. Used by scripts/test."""

import shutil
import subprocess
import sys

import environ
import MySQLdb
import MySQLdb.constants.CLIENT


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
        cursor.execute("SELECT COUNT(*) FROM mysql.time_zone_name")
        has_zones = cursor.fetchone()[0] > 0
    conn.close()
    if not has_zones:
        load_time_zones(config)
    return 0


def load_time_zones(config) -> None:
    """Django converts times to TIME_ZONE in SQL (date filters, the admin's
    date hierarchy) with CONVERT_TZ, which needs the server's time zone
    tables; a fresh MariaDB has them empty."""
    tool = shutil.which("mariadb-tzinfo-to-sql") or shutil.which("mysql_tzinfo_to_sql")
    if tool is None:
        print("warning: the server has no time zone tables and mysql_tzinfo_to_sql is missing", file=sys.stderr)
        return
    sql = subprocess.run([tool, "/usr/share/zoneinfo"], capture_output=True, text=True, check=True).stdout
    conn = MySQLdb.connect(
        host=config["HOST"] or "127.0.0.1",
        port=int(config["PORT"] or 3306),
        user=config["USER"],
        passwd=config["PASSWORD"] or "",
        db="mysql",
        client_flag=MySQLdb.constants.CLIENT.MULTI_STATEMENTS,
    )
    with conn.cursor() as cursor:
        cursor.execute(sql)
        while cursor.nextset():
            pass
    conn.commit()
    conn.close()
    print("loaded the server's time zone tables", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
