"""English inflection folding for search: `exported`, `exporting` and
`exports` all become `export`, `replies` and `replied` become `repli`.

A reader who searches for one form of a word expects the others, so the
stored text and the query are reduced to the same stem. Only inflections
are folded (plural and third-person -s, -ed, -ing), the first steps of
Porter's algorithm (1a, 1b, 1c and 5, the final -e and -ll, with Porter2's rule
for -y and -ied). Derivations (-ation, -ness, -ize, ...) are left alone:
folding `general` and `generous` together, as a full stemmer does, costs
precision that no reader asked for. The stems need not be words, only the
same for every form of one word; they are never shown.
"""

from functools import lru_cache

_VOWELS = frozenset("aeiou")
# Common irregular verb forms a reader expects to find under the base form.
# Stemmed like any word afterwards, so `sent` and `sends` meet at `send`.
IRREGULAR = {
    "began": "begin",
    "begun": "begin",
    "broke": "break",
    "broken": "break",
    "brought": "bring",
    "built": "build",
    "bought": "buy",
    "chose": "choose",
    "chosen": "choose",
    "did": "do",
    "does": "do",
    "done": "do",
    "drew": "draw",
    "drawn": "draw",
    "fed": "feed",
    "felt": "feel",
    "found": "find",
    "gave": "give",
    "goes": "go",
    "given": "give",
    "got": "get",
    "gotten": "get",
    "held": "hold",
    "kept": "keep",
    "knew": "know",
    "known": "know",
    "led": "lead",
    "left": "leave",
    "lost": "lose",
    "made": "make",
    "meant": "mean",
    "met": "meet",
    "paid": "pay",
    "ran": "run",
    "said": "say",
    "saw": "see",
    "seen": "see",
    "sent": "send",
    "shown": "show",
    "sold": "sell",
    "spent": "spend",
    "stood": "stand",
    "taken": "take",
    "took": "take",
    "taught": "teach",
    "thought": "think",
    "told": "tell",
    "understood": "understand",
    "went": "go",
    "gone": "go",
    "won": "win",
    "wrote": "write",
    "written": "write",
}


# Words that end in -ed without being a past tense (embed, not emb + ed).
NOT_PAST = frozenset(["embed", "hundred", "naked", "sacred", "wicked", "rugged"])


def _is_consonant(word: str, i: int) -> bool:
    letter = word[i]
    if letter in _VOWELS:
        return False
    if letter == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in a stem."""
    m, previous_vowel = 0, False
    for i in range(len(stem)):
        vowel = not _is_consonant(stem, i)
        if previous_vowel and not vowel:
            m += 1
        previous_vowel = vowel
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _ends_cvc(stem: str) -> bool:
    """Consonant-vowel-consonant, the last not w, x or y (hop, not hoop)."""
    return (
        len(stem) >= 3
        and _is_consonant(stem, len(stem) - 3)
        and not _is_consonant(stem, len(stem) - 2)
        and _is_consonant(stem, len(stem) - 1)
        and stem[-1] not in "wxy"
    )


def _ends_double_consonant(stem: str) -> bool:
    return len(stem) >= 2 and stem[-1] == stem[-2] and _is_consonant(stem, len(stem) - 1)


def _plural(word: str) -> str:
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith(("ied", "ies")):
        # Porter2: ties -> tie, but tries -> tri (so it meets try -> tri).
        return word[:-2] if len(word) <= 4 else word[:-3] + "i"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _ed_ing(word: str) -> str:
    if word.endswith("eed") or word in NOT_PAST:
        # need, exceed, proceed: the -ed is part of the word (needed -> need).
        return word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]):
            stem = word[: -len(suffix)]
            if len(stem) < 2:
                return word
            if stem.endswith(("at", "bl", "iz")):
                return stem + "e"
            if _ends_double_consonant(stem) and stem[-1] not in "lsz":
                return stem[:-1]
            if _measure(stem) == 1 and _ends_cvc(stem):
                return stem + "e"
            return stem
    return word


def _final_y_and_e(word: str) -> str:
    # Porter2's -y rule: reply -> repli (as replies -> repli), day stays day.
    if len(word) > 2 and word.endswith("y") and _is_consonant(word, len(word) - 2):
        word = word[:-1] + "i"
    # Porter 5a: create -> creat (as created -> create -> creat), base stays base.
    if word.endswith("e"):
        stem = word[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _ends_cvc(stem)):
            word = stem
    # Porter 5b: cancelled -> cancell -> cancel, as cancel; fill stays fill.
    if word.endswith("ll") and _measure(word[:-1]) > 1:
        word = word[:-1]
    return word


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """The search stem of a lower-case English word. Words with digits are
    kept as they are, and words of three letters or fewer (api, csv, log)
    lose no suffix."""
    if not word.isalpha():
        return word
    if word in IRREGULAR:
        word = IRREGULAR[word]
    elif word.startswith("re") and word[2:] in IRREGULAR:
        word = "re" + IRREGULAR[word[2:]]  # rebuilt -> rebuild, resent -> resend
    if len(word) > 3:
        word = _ed_ing(_plural(word))
    return _final_y_and_e(word)
