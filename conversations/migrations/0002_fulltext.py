"""Full-text index on ConversationLog.search_terms, in the database's own
engine (see conversations/search.py).

SQLite: an external-content FTS5 table kept in step by triggers; "_" is a
token character so padded short terms stay whole, as they do for InnoDB.
MariaDB/MySQL: a FULLTEXT index built with an empty stopword list (InnoDB's
default English list would drop words such as "about" from the index).

Note for later migrations: on SQLite, Django alters a table by rebuilding it,
which drops its triggers; a migration that alters ConversationLog must run
SQLITE_BACKWARD and SQLITE_FORWARD again.
"""

from django.db import migrations

FTS = "conversations_log_fts"
LOG = "conversations_conversationlog"

SQLITE_FORWARD = [
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(search_terms, content='{LOG}', content_rowid='id', "
    "tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")",
    f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON {LOG} BEGIN "
    f"INSERT INTO {FTS}(rowid, search_terms) VALUES (new.id, new.search_terms); END",
    f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON {LOG} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); END",
    f"CREATE TRIGGER {FTS}_au AFTER UPDATE OF search_terms ON {LOG} BEGIN "
    f"INSERT INTO {FTS}({FTS}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); "
    f"INSERT INTO {FTS}(rowid, search_terms) VALUES (new.id, new.search_terms); END",
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    f"DROP TRIGGER IF EXISTS {FTS}_ai",
    f"DROP TRIGGER IF EXISTS {FTS}_ad",
    f"DROP TRIGGER IF EXISTS {FTS}_au",
    f"DROP TABLE IF EXISTS {FTS}",
]
STOPWORDS = "conversations_ft_stopword"
MYSQL_FORWARD = [
    f"CREATE TABLE IF NOT EXISTS {STOPWORDS} (value VARCHAR(30) NOT NULL DEFAULT '') ENGINE=InnoDB",
    "SET @previous_stopwords = @@SESSION.innodb_ft_user_stopword_table",
    f"SET SESSION innodb_ft_user_stopword_table = CONCAT(DATABASE(), '/{STOPWORDS}')",
    f"CREATE FULLTEXT INDEX convlog_fulltext ON {LOG} (search_terms)",
    "SET SESSION innodb_ft_user_stopword_table = @previous_stopwords",
]
MYSQL_BACKWARD = [f"DROP INDEX convlog_fulltext ON {LOG}", f"DROP TABLE IF EXISTS {STOPWORDS}"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    # MySQL cannot run DDL inside a transaction.
    atomic = False
    dependencies = [("conversations", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "mysql": MYSQL_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "mysql": MYSQL_BACKWARD}),
        )
    ]
