"""Measurements of the conversations benchmark: the cases, in-process timing through the
real views, the log page split into its pieces, and the SQL and profile diagnostics
(the HTTP loads are in bench.conversations_http).

Imported after django.setup().
"""

import cProfile
import datetime as dt
import os
import pstats
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIRequestFactory, force_authenticate

from aiplatform import services
from conversations.api.views import ConversationLogViewSet, ConversationStatsView
from conversations.models import ConversationLog
from conversations.selectors import LOG_LIST_FIELDS

LOGS_PATH = "/api/conversation/logs"
STATS_PATH = "/api/conversation/stats"
RAG_PATH = "/api/rag-chat"
# The last 30 local days of the data (bench.conversations_data.END_DAY is 2026-11-22).
WINDOW = {"date_from": "2026-10-23", "date_to": "2026-11-21"}
USER = "user-010"  # about 1.5 % of the logs: a typical heavy user
HEAVY_USER = "user-001"  # about 15 % of the logs
COMMON_KO, RARE_KO, ENGLISH, TWO_TERMS = "비밀번호", "온톨로지", "refund", "비밀번호 변경"
PAGE_RATIO_TARGET = 1.5
STATS_TARGET_MS = 150.0
SEARCH_TARGET_MS = 100.0
RAG_OVERHEAD_TARGET_MS = 15.0
SLOW_ROUND_S = 2.0
VERY_SLOW_ROUND_S = 20.0


@dataclass
class Case:
    key: str
    name: str
    path: str
    params: dict
    target_ms: float | None
    in_process: dict = field(default_factory=dict)
    http: dict = field(default_factory=dict)
    matches: int | None = None

    @property
    def url_path(self) -> str:
        return f"{self.path}?{urlencode(self.params)}" if self.params else self.path


def cases() -> list[Case]:
    u, heavy = {"user_id": USER, **WINDOW}, {"user_id": HEAVY_USER, **WINDOW}
    return [
        Case("page", f"log page: {USER} + 30 days", LOGS_PATH, {**u, "limit": 50}, None),
        Case("page-heavy", f"log page: {HEAVY_USER} + 30 days", LOGS_PATH, {**heavy, "limit": 50}, None),
        Case("stats-year", "stats: whole year, no filter", STATS_PATH, {}, STATS_TARGET_MS),
        Case("stats-30d", "stats: 30 days", STATS_PATH, dict(WINDOW), STATS_TARGET_MS),
        Case("stats-user", f"stats: {USER} + 30 days", STATS_PATH, u, STATS_TARGET_MS),
        Case("stats-heavy", f"stats: {HEAVY_USER} + 30 days", STATS_PATH, heavy, STATS_TARGET_MS),
        Case(
            "stats-q-30d",
            f"stats: q={COMMON_KO} + 30 days (sample)",
            STATS_PATH,
            {"q": COMMON_KO, **WINDOW},
            STATS_TARGET_MS,
        ),
        Case("stats-q-year", f"stats: q={COMMON_KO}, year (sample)", STATS_PATH, {"q": COMMON_KO}, STATS_TARGET_MS),
        Case("stats-q-rare", f"stats: q={RARE_KO}, year (sample)", STATS_PATH, {"q": RARE_KO}, STATS_TARGET_MS),
        Case(
            "search-common",
            f"search: {COMMON_KO} (common ko)",
            LOGS_PATH,
            {"q": COMMON_KO, "limit": 50},
            SEARCH_TARGET_MS,
        ),
        Case("search-rare", f"search: {RARE_KO} (rare ko)", LOGS_PATH, {"q": RARE_KO, "limit": 50}, SEARCH_TARGET_MS),
        Case("search-en", f"search: {ENGLISH} (en)", LOGS_PATH, {"q": ENGLISH, "limit": 50}, SEARCH_TARGET_MS),
        Case(
            "search-two", f"search: {TWO_TERMS} (two terms)", LOGS_PATH, {"q": TWO_TERMS, "limit": 50}, SEARCH_TARGET_MS
        ),
    ]


def case_named(all_cases: list[Case], key: str) -> Case:
    for case in all_cases:
        if case.key == key:
            return case
    raise SystemExit(f"no case {key!r}; the cases are: {', '.join(case.key for case in all_cases)}")


# --- Timing -------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the harness's rule)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": percentile(values, 0.5), "p90_ms": percentile(values, 0.9)}


def sample(fns: dict, *, iterations: int, max_seconds: float, warmup: int = 2) -> dict[str, list[float]]:
    """Milliseconds per call of each function, called in turn (so drift hits all alike), for
    `iterations` rounds or until `max_seconds` have passed: at least 5 rounds, 3 when a round
    takes more than SLOW_ROUND_S (then after a single warm-up round), 1 past VERY_SLOW_ROUND_S."""
    for done in range(warmup):
        started = time.perf_counter()
        for fn in fns.values():
            fn()
        if done == 0 and time.perf_counter() - started > SLOW_ROUND_S:
            break
    out: dict[str, list[float]] = {name: [] for name in fns}
    deadline = time.perf_counter() + max_seconds
    for i in range(iterations):
        round_started = time.perf_counter()
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            out[name].append((time.perf_counter() - started) * 1000)
        took = time.perf_counter() - round_started
        minimum = 1 if took > VERY_SLOW_ROUND_S else 3 if took > SLOW_ROUND_S else 5
        if i + 1 >= minimum and time.perf_counter() > deadline:
            break
    return out


def _box_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (Linux), as bench.harness counts them."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _pid_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _database_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class CpuWatch:
    """Cores' worth of CPU used over a window by this process, by the database server (when it is
    MariaDB) and by everything else: the last one says whether other work disturbed the figures."""

    def __init__(self):
        self.db_pids = _database_pids() if connection.vendor == "mysql" else []
        self.started = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float, float]:
        return (
            time.perf_counter(),
            _box_busy_s(),
            time.process_time(),
            sum(_pid_cpu_s(pid) for pid in self.db_pids),
        )

    def stop(self) -> dict:
        end = self._snapshot()
        wall, box, own, db = (b - a for a, b in zip(self.started, end, strict=True))
        wall = max(wall, 1e-9)
        return {"own_cores": own / wall, "db_cores": db / wall, "other_cores": max(0.0, box - own - db) / wall}


class SqlTimer:
    """Time spent inside cursor.execute (installed with connection.execute_wrapper). With MySQLdb
    that includes fetching the rows (its cursors buffer the result); with SQLite, rows after the
    first are stepped when fetched, outside it, so it is a lower bound there."""

    def __init__(self):
        self.ms = 0.0
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - started) * 1000
            self.queries += 1


# --- In-process and HTTP ----------------------------------------------------


def staff_user():
    user, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    return user


class InProcess:
    """Calls the views as the server would, minus the HTTP stack and middleware."""

    def __init__(self, user):
        self.user = user
        self.factory = APIRequestFactory(HTTP_HOST="127.0.0.1")
        self.views = {
            LOGS_PATH: ConversationLogViewSet.as_view({"get": "list"}),
            STATS_PATH: ConversationStatsView.as_view(),
        }

    def request(self, path: str, params: dict):
        request = self.factory.get(path, params)
        force_authenticate(request, user=self.user)
        return request

    def call(self, case: Case):
        response = self.views[case.path](self.request(case.path, case.params))
        response.render()
        if response.status_code != 200:
            raise RuntimeError(f"{case.url_path} answered {response.status_code}: {response.content[:300]!r}")
        return response

    def list_viewset(self, params: dict):
        """A log viewset set up for one request, as as_view() does, with authentication already done."""
        viewset = ConversationLogViewSet()
        viewset.action_map, viewset.args, viewset.kwargs, viewset.format_kwarg = {"get": "list"}, (), {}, None
        viewset.headers = {}
        viewset.request = viewset.initialize_request(self.request(LOGS_PATH, params))
        viewset.request.user  # noqa: B018 (authenticate now, outside the timed part)
        return viewset


def log_page_split(client: InProcess, case: Case, args) -> dict:
    """The log page in pieces: the ORM query (FilterSet + cursor page, to the `.values()` rows the
    list serialises) against the same SELECT of the same columns written by hand and run through
    the DB-API cursor, then the serializer and the JSON rendering, and the whole view."""
    params = case.params
    ops, quote = connection.ops, connection.ops.quote_name
    columns = ", ".join(quote(ConversationLog._meta.get_field(name).column) for name in LOG_LIST_FIELDS)
    # Identifiers only are formatted in, quoted by the backend; values are parameters.
    sql = (
        f"SELECT {columns} FROM {quote(ConversationLog._meta.db_table)} "  # noqa: S608
        f"WHERE {quote('user_id')} = %s AND {quote('created_at')} >= %s AND {quote('created_at')} < %s "
        f"ORDER BY {quote('created_at')} DESC LIMIT %s"
    )
    start = timezone.make_aware(dt.datetime.fromisoformat(params["date_from"]))
    end = timezone.make_aware(dt.datetime.fromisoformat(params["date_to"]) + dt.timedelta(days=1))
    sql_params = [
        params["user_id"],
        ops.adapt_datetimefield_value(start),
        ops.adapt_datetimefield_value(end),
        params["limit"] + 1,
    ]

    def orm():
        viewset = client.list_viewset(params)
        # Timed on an open connection, as the raw SQL is (stack_new_connection closes it).
        connection.ensure_connection()
        started = time.perf_counter()
        page = viewset.paginate_queryset(viewset.filter_queryset(viewset.get_queryset()))
        timings["ORM query: FilterSet + cursor page -> rows"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        data = viewset.get_serializer(page, many=True).data
        timings["serializer: 50 rows -> dicts"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        JSONRenderer().render(data)
        timings["JSON render"].append((time.perf_counter() - started) * 1000)
        return page

    def raw():
        with connection.cursor() as cursor:
            cursor.execute(sql, sql_params)
            return cursor.fetchall()

    # Diagnostics: where the ORM's time goes.
    plain = ConversationLog.objects.filter(
        user_id=params["user_id"], created_at__gte=start, created_at__lt=end
    ).order_by("-created_at")

    def filterset():
        viewset = client.list_viewset(params)
        started = time.perf_counter()
        queryset = viewset.get_queryset()
        middle = time.perf_counter()
        viewset.filter_queryset(queryset)
        ended = time.perf_counter()
        timings["  get_queryset: visible logs, .values() of the list's columns"].append((middle - started) * 1000)
        timings["  FilterSet alone (form, validation, filters; no query)"].append((ended - middle) * 1000)

    def plain_dicts():
        return list(plain.values(*LOG_LIST_FIELDS)[: params["limit"] + 1])

    def plain_tuples():
        return list(plain.values_list(*LOG_LIST_FIELDS)[: params["limit"] + 1])

    # The whole Django stack (middleware, API-key authentication) in-process, then the same with a
    # new database connection per request, as the server's CONN_MAX_AGE=0 gives (the test client
    # keeps the connection open between requests).
    api_key, secret = services.api_key_create(name="bench-conversations-inprocess", scopes=["service"])
    # WhiteNoise warns once that collectstatic has not run: irrelevant to an API request.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    django_client = Client(HTTP_HOST="127.0.0.1", HTTP_X_API_KEY=secret)

    def stack():
        response = django_client.get(case.path, params)
        if response.status_code != 200:
            raise RuntimeError(f"{case.url_path} answered {response.status_code} through the test client")

    def stack_new_connection():
        connection.close()
        stack()

    timings: dict[str, list[float]] = {
        "ORM query: FilterSet + cursor page -> rows": [],
        "serializer: 50 rows -> dicts": [],
        "JSON render": [],
        "  get_queryset: visible logs, .values() of the list's columns": [],
        "  FilterSet alone (form, validation, filters; no query)": [],
    }
    sent: list = []

    def keep(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(keep):
        page = orm()
    # Read now: the test client's requests reset the connection's query log.
    orm_sql = captured.captured_queries[-1]["sql"]
    orm_statement, orm_params = sent[-1]

    def orm_sql_raw():
        # The SELECT exactly as the ORM sent it, on the same cursor as the hand-written one: what the
        # database is asked, without the ORM's Python around it.
        with connection.cursor() as cursor:
            cursor.execute(orm_statement, orm_params)
            return cursor.fetchall()

    rows = raw()
    if [row[0] for row in orm_sql_raw()[: len(page)]] != [row[0] for row in rows[: len(page)]]:
        raise RuntimeError("the ORM's SQL and the hand-written SQL return different pages")
    if [row["id"] for row in page] != [row[0] for row in rows[: len(page)]]:
        raise RuntimeError("the hand-written SQL does not return the ORM's page")
    if tuple(page[0]) != LOG_LIST_FIELDS:
        raise RuntimeError(f"the ORM's rows hold {tuple(page[0])}, not the list's columns")
    for values in timings.values():
        values.clear()
    watch = CpuWatch()
    measured = sample(
        {
            "orm": orm,
            "raw": raw,
            "orm_sql": orm_sql_raw,
            "view": lambda: client.call(case),
            "filterset": filterset,
            "plain": plain_dicts,
            "tuples": plain_tuples,
            "stack": stack,
            "stack_new_connection": stack_new_connection,
        },
        iterations=args.iterations,
        max_seconds=args.max_seconds,
    )
    cpu = watch.stop()
    services.api_key_revoke(prefix=api_key.prefix)
    rounds = len(measured["orm"])
    pieces = {name: summary(values[-rounds:]) for name, values in timings.items()}
    pieces["raw SQL: DB-API cursor, fetchall"] = summary(measured["raw"])
    pieces["the ORM's SQL as sent, same cursor, fetchall"] = summary(measured["orm_sql"])
    pieces["whole view, rendered (in-process)"] = summary(measured["view"])
    pieces["  plain QuerySet .values(), no FilterSet/paginator -> dicts"] = summary(measured["plain"])
    pieces["  plain QuerySet .values_list() -> tuples"] = summary(measured["tuples"])
    pieces["whole Django stack in-process (test Client, X-API-Key)"] = summary(measured["stack"])
    pieces["  same, new DB connection per request"] = summary(measured["stack_new_connection"])
    orm_p50 = pieces["ORM query: FilterSet + cursor page -> rows"]["p50_ms"]
    raw_p50 = pieces["raw SQL: DB-API cursor, fetchall"]["p50_ms"]
    return {
        "rows": len(page),
        "orm_sql": orm_sql,
        "raw_sql": sql,
        "pieces": pieces,
        "orm_to_raw": orm_p50 / raw_p50,
        "orm_sql_to_raw": pieces["the ORM's SQL as sent, same cursor, fetchall"]["p50_ms"] / raw_p50,
        "view_to_raw": pieces["whole view, rendered (in-process)"]["p50_ms"] / raw_p50,
        "cpu": cpu,
    }


def match_count(client: InProcess, params: dict) -> int:
    viewset = client.list_viewset(params)
    return viewset.filter_queryset(viewset.get_queryset()).count()


def measure_in_process(client: InProcess, all_cases: list[Case], args) -> None:
    for case in all_cases:
        timer = SqlTimer()
        sql_ms: list[float] = []
        queries: list[int] = []

        def call(case=case, timer=timer, sql_ms=sql_ms, queries=queries):
            before, count = timer.ms, timer.queries
            client.call(case)
            sql_ms.append(timer.ms - before)
            queries.append(timer.queries - count)

        watch = CpuWatch()
        with connection.execute_wrapper(timer):
            measured = sample({"view": call}, iterations=args.iterations, max_seconds=args.max_seconds)["view"]
        case.in_process = (
            summary(measured)
            | watch.stop()
            | {
                "sql_p50_ms": percentile(sql_ms[-len(measured) :], 0.5),
                "queries": queries[-1],
            }
        )
        if "q" in case.params:
            # Stats of a search describe a sample: count every match through the list's filters.
            case.matches = match_count(client, {k: v for k, v in case.params.items() if k != "limit"})
        elif case.path == STATS_PATH:
            case.matches = client.call(case).data["total"]
        print(f"  {case.name}: p50 {case.in_process['p50_ms']:.1f} ms", flush=True)


def profile(client: InProcess, case: Case, rounds: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        client.call(case)
    profiler.disable()
    print(f"\n--- cProfile of {rounds} x {case.name} (cumulative) ---")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def explain(client: InProcess, case: Case) -> None:
    """Each SQL statement the view runs for a case, run again on its own (fetching every row),
    with its time and the database's plan."""
    with CaptureQueriesContext(connection) as captured:
        client.call(case)
    print(f"\n--- SQL of {case.name}: {len(captured.captured_queries)} statements ---")
    plan_prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    for query in captured.captured_queries:
        sql = query["sql"]
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(sql)
            rows = len(cursor.fetchall())
            ms = (time.perf_counter() - started) * 1000
            plan = []
            if sql.lstrip().upper().startswith("SELECT"):
                cursor.execute(plan_prefix + sql)
                plan = [" | ".join(str(value) for value in row) for row in cursor.fetchall()]
        print(f"{ms:9.1f} ms {rows:7d} rows  {sql[:400]}")
        for line in plan:
            print(f"{'':22}plan: {line}")
