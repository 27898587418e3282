"""Every shell example of the guides (README.md and docs/*.md) runs, against a
live platform with the demo data, as a reader would run it: the production
server (gunicorn + uvicorn workers) and the task worker on 127.0.0.1, a
scratch SQLite database, `migrate`, `ensure_admin`, `load_demo`. A guide
whose commands no longer work fails here, so the guides cannot drift from
the code unnoticed.

Conventions of the guides (docs/platform.md, "The examples", says them too):

- A ```bash, ```sh or ```shell block is run; any other block (```json,
  ```text, ```console) is shown only. A block that must not run here (it
  serves forever, installs on a lab machine) follows the line
  `<!-- docs-test: skip ... -->`.
- The block after `<!-- docs-test: setup -->` (in docs/platform.md) defines
  the variables every guide uses (BASE, KEY, ...); it runs first for each
  guide. Each guide's blocks then run in order in one bash with
  `set -euo pipefail`, so a guide may use what its earlier blocks defined.
- The working directory is a scratch copy of the checkout (symbolic links to
  it), so files the examples write land there; `venv` is the platform's
  `.venv` (the guides' lab-machine venv has the same packages).
- `curl` is wrapped: every call's HTTP status must be below 400, unless the
  comment right after the command says `# -> NNN ...`, then it must be NNN.
  When that comment shows JSON, the answer must be JSON with every key the
  comment names (and the same `"code"`, for errors).
"""

import json
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

GUIDES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = {"bash", "sh", "shell"}
SKIP_MARK = "<!-- docs-test: skip"
SETUP_MARK = "<!-- docs-test: setup"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<lang>[\w+-]*)\s*$")
# Entries of the checkout the scratch copy does not link to: state of a
# developer's own run, which the examples must not read or change.
NOT_LINKED = {".git", ".env", "db.sqlite3", "var", "media", "test-artifacts", "venv"}
BLOCK_SECONDS = 240


@dataclass
class Block:
    guide: Path
    line: int  # 1-based line of the opening fence
    text: str
    skip: bool = False
    setup: bool = False


@dataclass
class Expectation:
    """What the comment after a curl command says of its answer."""

    status: int | None = None
    keys: list[str] = field(default_factory=list)
    code: str | None = None


def blocks_of(guide: Path) -> list[Block]:
    """The fenced shell blocks of a Markdown file (also those indented in a
    list item), with the marker on the line before each."""
    lines = guide.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = match["indent"], match["fence"], match["lang"].lower()
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].startswith(indent + fence) and not lines[j].strip().strip("`")):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        if lang in RUN_LANGUAGES:
            before = lines[i - 1].strip() if i > 0 else ""
            found.append(
                Block(
                    guide=guide,
                    line=i + 1,
                    text="\n".join(body) + "\n",
                    skip=before.startswith(SKIP_MARK),
                    setup=before.startswith(SETUP_MARK),
                )
            )
        i = j + 1
    return found


def _commands(text: str) -> list[tuple[str, list[str]]]:
    """Split a shell block into (command code without comments, the comment
    lines that directly follow it). A command runs on over `\\` line ends
    and open quotes."""
    commands: list[tuple[str, list[str]]] = []
    code, in_single, in_double, escaped = [], False, False, False
    for line in text.splitlines():
        if not code and line.lstrip().startswith("#"):
            if commands:
                commands[-1][1].append(line.strip())
            continue
        if not code and not line.strip():
            if commands:
                commands[-1][1].append("")
            continue
        kept, k = [], 0
        while k < len(line):
            ch = line[k]
            if escaped:
                escaped = False
            elif ch == "\\" and not in_single:
                escaped = True
            elif ch == "'" and not in_double:
                in_single = not in_single
            elif ch == '"' and not in_single:
                in_double = not in_double
            elif ch == "#" and not in_single and not in_double and (k == 0 or line[k - 1] in " \t;"):
                break
            kept.append(ch)
            k += 1
        code.append("".join(kept))
        continued = escaped or in_single or in_double
        escaped = False if not (in_single or in_double) else escaped
        if not continued:
            commands.append(("\n".join(code), []))
            code = []
    if code:
        commands.append(("\n".join(code), []))
    return commands


CURL = re.compile(r"(?:^|[\s;&|(])curl\s")
LOOP = re.compile(r"(?:^|[\s;&|(])(?:for|while|until)\s")


def expectations_of(block: Block) -> list[Expectation] | None:
    """One Expectation per curl call the block makes, in order; None when a
    loop makes the number of calls unknown."""
    expected = []
    for code, comments in _commands(block.text):
        if LOOP.search(code):
            return None
        calls = len(CURL.findall(code))
        if not calls:
            continue
        expected += [Expectation() for _ in range(calls - 1)]
        expected.append(_expectation(comments))
    return expected


def _expectation(comments: list[str]) -> Expectation:
    if not comments or not comments[0].startswith("# ->"):
        return Expectation()
    text = comments[0][len("# ->") :]
    for more in comments[1:]:
        if not re.match(r"#\s{2,}\S", more):
            break
        text += " " + more[1:]
    status = re.match(r"\s*(\d{3})\b", text)
    keys = re.findall(r'"(\w+)":', text) if "{" in text else []
    code = re.search(r'"code":\s*"(\w+)"', text)
    return Expectation(status=int(status[1]) if status else None, keys=keys, code=code[1] if code else None)


def _all_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


def _error_code(value) -> str | None:
    error = value.get("error") if isinstance(value, dict) else None
    return error.get("code") if isinstance(error, dict) else None


# The curl every example calls: the real one, with its status and answer
# recorded for the checks above.
HARNESS = r"""
curl() {
  local n rc status
  n=$(( $(wc -l <"$DOCS_CALLS") + 1 ))
  { command curl -D "$DOCS_DIR/call-$n.headers" "$@"; echo $? >"$DOCS_DIR/call-$n.rc"; } \
    | tee "$DOCS_DIR/call-$n.body" || true
  rc=$(cat "$DOCS_DIR/call-$n.rc")
  status=$(tr -d '\r' <"$DOCS_DIR/call-$n.headers" 2>/dev/null | awk '/^HTTP\//{s=$2} END{print s+0}')
  printf '%s\t%s\t%s\t%s\n' "$DOCS_BLOCK" "$n" "$status" "$rc" >>"$DOCS_CALLS"
  return "$rc"
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A running platform with the demo data, as scripts/run leaves it, and
    the environment the examples run in."""
    home = tmp_path_factory.mktemp("docs-platform")
    work = home / "checkout"
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED:
            (work / entry.name).symlink_to(entry)
    (work / "venv").symlink_to(ROOT / ".venv")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "PYTEST_"))},
        "DJANGO_READ_DOTENV": "false",
        "DJANGO_SECRET_KEY": "docs-test-secret-key-" + "x" * 40,
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": f"sqlite:///{home}/db.sqlite3",
        "TASKS_BACKEND": "db",
        "MEDIA_ROOT": str(home / "media"),
        "VECTOR_INDEX_DIR": str(home / "vectors"),
        "MODEL_STORAGE_DIR": str(home / "models"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "warning",
    }
    env.pop("CACHE_URL", None)
    env.pop("REDIS_URL", None)
    _manage(env, work, "migrate", "--noinput", "-v0")
    admin = _manage(env, work, "ensure_admin")
    password = re.search(r"admin / (\S+)", admin)[1]
    _manage(env, work, "load_demo")

    logs = home / "server.log"
    with open(logs, "w") as log:
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "aiplatform.asgi:application", "-c", "gunicorn.conf.py"],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        worker = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "task_worker"],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, logs.read_text()
            time.sleep(0.3)
        yield {"home": home, "work": work, "env": {**env, "BASE": base, "ADMIN_PASSWORD": password}, "logs": logs}
    finally:
        for process in (worker, server):
            process.terminate()
        for process in (worker, server):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _setup_block() -> Block:
    setups = [block for guide in GUIDES for block in blocks_of(guide) if block.setup]
    assert len(setups) == 1, f"one block marked {SETUP_MARK} -->, found {len(setups)}"
    return setups[0]


def test_markers_and_setup_block():
    """The conventions hold: one setup block, and the README still starts with
    the two commands of a fresh machine."""
    setup = _setup_block()
    assert setup.guide.name == "platform.md"
    first = blocks_of(ROOT / "README.md")[0]
    commands = [line.split("#")[0].strip() for line in first.text.splitlines() if line.strip()]
    assert commands == ["scripts/run", "scripts/test"]
    assert first.skip  # it serves forever


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(guide: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as -."""
    headings = re.findall(r"^#{1,6} (.+)$", guide.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("guide", GUIDES, ids=[g.relative_to(ROOT).as_posix() for g in GUIDES])
def test_links_between_guides_resolve(guide):
    text = re.sub(r"```.*?```", "", guide.read_text(encoding="utf-8"), flags=re.DOTALL)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (guide.parent / path).resolve() if path else guide
        assert file.exists(), f"{guide.name}: {target} does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file), f"{guide.name}: no heading #{anchor} in {file.name}"


def test_guides_name_only_what_exists():
    """The README once listed apps and endpoints (stories, monitoring,
    backups, /metrics) before they existed: name only what the project has."""
    urls = (ROOT / "aiplatform" / "urls.py").read_text()
    for guide in GUIDES:
        text = guide.read_text(encoding="utf-8").lower().replace("monitoring:control", "")
        for app in ("stories", "monitoring", "backups"):
            if not (ROOT / app).is_dir():
                assert app not in text, f"{guide.name} mentions {app}, which is not here"
        if 'path("metrics' not in urls:
            assert not re.search(r"(?<![\w/])/metrics\b", text), f"{guide.name} mentions /metrics"


def test_every_setting_is_in_the_table():
    """A variable settings.py reads and docs/platform.md does not list is a
    setting nobody can find."""
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "aiplatform" / "settings.py").read_text()))
    table = (ROOT / "docs" / "platform.md").read_text(encoding="utf-8")
    assert read, "no env(...) calls found: has settings.py changed the way it reads variables?"
    assert sorted(name for name in read if f"`{name}`" not in table) == []


def test_expectations_are_read():
    block = Block(
        guide=Path("x.md"),
        line=1,
        text=(
            'X=$(curl -s a \\\n   -d \'{"q": 1}\')\n# -> 201 {"created": [],\n#     "rejected": []}\n'
            "curl -s b   # trailing\n# not an expectation\ncurl -s c\n"
            '# -> 409 {"error": {"code": "not_holder"}}\n'
        ),
    )
    got = expectations_of(block)
    assert [e.status for e in got] == [201, None, 409]
    assert got[0].keys == ["created", "rejected"]
    assert got[2].code == "not_holder"


def _run_blocks(
    run: list[Block], work: Path, env: dict, out: Path, *, prelude: str = "", epilogue: str = ""
) -> list[str]:
    """Run the blocks in order in one bash (set -euo pipefail) with the
    wrapped curl; returns the problems found, empty when all is well."""
    script = ["set -euo pipefail", HARNESS, f'cd "{work}"', prelude]
    for n, block in enumerate(run):
        script += [
            f"DOCS_BLOCK={n}",
            f'echo {n} >"$DOCS_DIR/started"',
            "{",
            block.text,
            f'}} >"$DOCS_DIR/block-{n}.out" 2>&1',
        ]
    script += [epilogue, 'echo done >"$DOCS_DIR/finished"']
    (out / "calls.tsv").write_text("")
    (out / "script.sh").write_text("\n".join(script) + "\n")
    done = subprocess.run(
        ["bash", str(out / "script.sh")],
        env={**env, "DOCS_DIR": str(out), "DOCS_CALLS": str(out / "calls.tsv")},
        capture_output=True,
        text=True,
        timeout=BLOCK_SECONDS * 2,
        check=False,
    )

    def where(n: int) -> str:
        block = run[n]
        output = out / f"block-{n}.out"
        text = output.read_text(errors="replace")[-4000:] if output.exists() else ""
        return f"{block.guide.relative_to(ROOT)}:{block.line}\n--- block ---\n{block.text}--- output ---\n{text}"

    if done.returncode != 0:
        started = int((out / "started").read_text()) if (out / "started").exists() else 0
        return [f"exit {done.returncode} in {where(started)}\n{done.stderr[-2000:]}"]
    if not (out / "finished").exists():
        return [f"the script stopped early:\n{done.stderr[-2000:]}"]

    calls: dict[int, list[tuple[int, int]]] = {}
    for row in (out / "calls.tsv").read_text().splitlines():
        block_n, call_n, status, _rc = row.split("\t")
        calls.setdefault(int(block_n), []).append((int(call_n), int(status)))
    problems = []
    for n, block in enumerate(run):
        made = calls.get(n, [])
        expected = expectations_of(block)
        if expected is None:  # a loop: only no server errors
            problems += [f"{where(n)}\ncall {c}: HTTP {s}" for c, s in made if s >= 500 or s == 0]
            continue
        if len(made) != len(expected):
            problems.append(f"{where(n)}\n{len(made)} curl calls made, {len(expected)} written")
            continue
        for (call_n, status), want in zip(made, expected, strict=True):
            body_file = out / f"call-{call_n}.body"
            problems += [
                f"{where(n)}\ncall {call_n}: {problem}"
                for problem in _check(status, body_file.read_bytes() if body_file.exists() else b"", want)
            ]
    return problems


@pytest.fixture(scope="module")
def example_variables(platform, tmp_path_factory) -> Path:
    """The setup block run once, as a reader runs it first; what it defines
    (a file of `declare` lines) is sourced before each guide's blocks."""
    setup = _setup_block()
    names = sorted(set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", setup.text, re.MULTILINE)))
    out = tmp_path_factory.mktemp("docs-setup")
    variables = out / "variables.sh"
    problems = _run_blocks(
        [setup], platform["work"], platform["env"], out, epilogue=f'declare -p {" ".join(names)} >"{variables}"'
    )
    assert not problems, "\n\n".join(problems)
    return variables


@pytest.mark.slow
def test_setup_block_defines_the_variables(example_variables):
    text = example_variables.read_text()
    for name in ("BASE", "KEY", "USER_KEY", "J"):
        assert f" {name}=" in text


@pytest.mark.slow
@pytest.mark.parametrize("guide", GUIDES, ids=[g.relative_to(ROOT).as_posix() for g in GUIDES])
def test_guide_examples_run(guide, platform, example_variables, tmp_path):
    blocks = [block for block in blocks_of(guide) if not block.skip and not block.setup]
    if not blocks:
        pytest.skip(f"{guide.name} has no shell example to run (its blocks are marked skip)")
    problems = _run_blocks(blocks, platform["work"], platform["env"], tmp_path, prelude=f'source "{example_variables}"')
    assert not problems, "\n\n".join(problems)


def _check(status: int, body: bytes, want: Expectation) -> list[str]:
    if want.status is not None and status != want.status:
        return [f"HTTP {status}, the guide says {want.status}: {body[:500]!r}"]
    if want.status is None and not 200 <= status < 400:
        return [f"HTTP {status}: {body[:500]!r}"]
    if not want.keys or not body.strip():
        return []
    try:
        answer = json.loads(body)
    except ValueError:
        if not body.lstrip().startswith((b"{", b"[")):
            return []  # a file, an event stream: the comment describes it in words
        try:  # JSON Lines
            answer = [json.loads(line) for line in body.splitlines() if line.strip()]
        except ValueError:
            return [f"not JSON: {body[:300]!r}"]
    problems = []
    missing = [key for key in want.keys if key not in _all_keys(answer)]
    if missing:
        problems.append(f"keys {missing} not in the answer: {body[:500]!r}")
    if want.code and _error_code(answer) not in (None, want.code):
        problems.append(f'"code" {_error_code(answer)!r}, the guide says {want.code!r}')
    return problems
