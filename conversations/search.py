"""Full-text search over conversation logs, on the database's own index.

Both the stored `search_terms` and the query are reduced to the same
morpheme tokens (aiplatform.text), so matching is exact token equality and
every query token must match. SQLite uses an FTS5 table kept in step by
triggers; MariaDB/MySQL a FULLTEXT index in boolean mode (both created by
migration 0002). Other databases fall back to LIKE on the padded token list.
"""

from django.db import connection
from django.db.models.expressions import RawSQL

from aiplatform import text

FTS_TABLE = "conversations_log_fts"


def _fts5_query(tokens: tuple[str, ...]) -> str:
    return " ".join('"' + token.replace('"', '""') + '"' for token in tokens)


def logs_search(queryset, query: str):
    """Logs whose question or answer contains every term of `query`."""
    tokens = text.query_tokens(query.strip())
    if not tokens:
        # Only particles or punctuation: nothing can be asked of the index.
        return queryset.none() if query.strip() else queryset
    vendor = connection.vendor
    if vendor == "sqlite":
        # The table name is a constant; the query is a bound parameter.
        sql = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"  # noqa: S608
        subquery = RawSQL(sql, [_fts5_query(tokens)])  # noqa: S611
        return queryset.filter(pk__in=subquery)
    if vendor == "mysql":
        table = queryset.model._meta.db_table
        match = RawSQL(  # noqa: S611
            f"MATCH (`{table}`.`search_terms`) AGAINST (%s IN BOOLEAN MODE)", [" ".join(f"+{t}" for t in tokens)]
        )
        return queryset.alias(_match=match).filter(_match__gt=0)
    for token in tokens:
        queryset = queryset.filter(search_terms__contains=f" {token} ")
    return queryset
