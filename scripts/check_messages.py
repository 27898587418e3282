"""The message catalogs are complete: every message of ours has a Korean and
an English translation, and none is fuzzy.

    .venv/bin/python scripts/check_messages.py           # check (scripts/test)
    .venv/bin/python scripts/check_messages.py --update  # refresh the .po files

The check runs makemessages on a copy of the catalogs, so a message added to
the code but missing from them counts as untranslated, and the working tree
is left as it was.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"
LANGUAGES = ["ko", "en"]
DOMAINS = ["django", "djangojs"]
# Not ours, or not read by people through the site: the worker is a separate
# program with its own (English) output.
IGNORE = [
    ".venv/*",
    "var/*",
    "staticfiles/*",
    "test-artifacts/*",
    "bench/*",
    "inference_worker/*",
    "tests/*",
    "scripts/*",
]


def makemessages() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aiplatform.settings"}
    env.setdefault("DJANGO_SECRET_KEY", "makemessages")
    ignore = [arg for pattern in IGNORE for arg in ("-i", pattern)]
    for domain in DOMAINS:
        languages = [arg for language in LANGUAGES for arg in ("-l", language)]
        command = [sys.executable, "manage.py", "makemessages", "-d", domain, *languages]
        command += ["--no-obsolete", "--add-location=file", *ignore, "-v0"]
        subprocess.run(command, cwd=ROOT, env=env, check=True)


def problems() -> list[str]:
    found = []
    for language in LANGUAGES:
        for domain in DOMAINS:
            catalog = LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
            for kind, flag in (("untranslated", "--untranslated"), ("fuzzy", "--only-fuzzy")):
                out = subprocess.run(
                    ["msgattrib", flag, "--no-wrap", str(catalog)], capture_output=True, text=True, check=True
                ).stdout
                # msgattrib always prints the header entry (msgid "").
                for line in out.splitlines():
                    if line.startswith("msgid ") and line != 'msgid ""':
                        found.append(f"{catalog.relative_to(ROOT)}: {kind}: {line[6:]}")
    return found


def main() -> int:
    if "--update" in sys.argv:
        makemessages()
        for line in problems():
            print(line)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        backup = Path(scratch) / "locale"
        shutil.copytree(LOCALE, backup)
        try:
            makemessages()
            found = problems()
        finally:
            shutil.rmtree(LOCALE)
            shutil.copytree(backup, LOCALE)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} messages lack a translation; run scripts/check_messages.py --update and translate them.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
