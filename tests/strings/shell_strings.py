"""What the two shells' languages checks share (android/scripts/strings_check.py and
ios/scripts/strings_check.py): the rules for a translation table, for keys defined and used,
what "reads as words" means, and the command line. Each shell's script reads its own formats
(Android XML resources and Kotlin; iOS string catalogs and Swift through tree-sitter) into
these shapes and adds its own source rules.
"""

import re
from pathlib import Path

# A string literal that reads as words ("Login request", "Approve.") is user-facing unless the
# shell's script finds it exempt (a diagnostic, a key).
WORDS = re.compile(r"[A-Za-z]{2,}[,.:;!?]?\s+[A-Za-z]{2,}|^[A-Z][a-z]+[.!?…]?$")
PLURAL_FORMS = ("one", "other")


def reads_as_words(text):
    return bool(WORDS.search(text))


def translation_problems(where, table, languages, placeholder):
    """`table`: name -> {language: (kind, {form: text})}, kind "string" (one form) or "plural"
    (forms by quantity). Every name in every language with the same kind, plurals with `one`
    and `other`, no empty text, the same placeholders (`placeholder`, a regex) in every language.
    """
    problems = []
    for name in sorted(table):
        entry = table[name]
        present = [lang for lang in languages if lang in entry]
        problems += [f"{where}: {name} is missing from {lang}" for lang in languages if lang not in entry]
        kinds = {entry[lang][0] for lang in present}
        if len(kinds) > 1:
            described = " but ".join(f"a {entry[lang][0]} in {lang}" for lang in present)
            problems.append(f"{where}: {name} is {described}")
            continue
        for lang in present:
            kind, forms = entry[lang]
            if kind == "plural":
                problems += [f"{where}: {name} ({lang}) has no plural form {q!r}" for q in PLURAL_FORMS if q not in forms]
            if any(not text.strip() for text in forms.values()):
                problems.append(f"{where}: {name} is empty in {lang}")
        found = {lang: frozenset(tuple(sorted(placeholder.findall(t))) for t in entry[lang][1].values()) for lang in present}
        if len(set(found.values())) > 1:
            described = ", ".join(f"{sorted(p)} in {lang}" for lang, p in found.items())
            problems.append(f"{where}: {name} has different placeholders: {described}")
    return problems


def undefined_problems(where, defined, used):
    """Keys the code asks for that are not defined."""
    return [f"{where}: {key} is used but not defined" for key in sorted(set(used) - set(defined))]


def unused_problems(where, defined, used):
    """Keys defined that nothing asks for."""
    return [f"{where}: {key} is defined but never used" for key in sorted(set(defined) - set(used))]


def self_test_result(name, failures, caught):
    """Prints a self-test's failures, or what it showed caught; the exit code."""
    for failure in failures:
        print(f"{name} self-test: {failure}")
    if failures:
        return 1
    print(f"{name} self-test: {caught}")
    return 0


def main(argv, doc, shell, check, self_test):
    """`SCRIPT DIR` runs `check(dir)` -> (problems, summary); `SCRIPT --self-test DIR` runs
    `self_test(dir)` -> exit code."""
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(Path(argv[2]).resolve())
    if len(argv) != 2:
        print(doc)
        return 2
    problems, summary = check(Path(argv[1]).resolve())
    for problem in problems:
        print(problem)
    if problems:
        print(f"strings_check: {len(problems)} problem(s) with the {shell} shell's languages")
        return 1
    print(summary)
    return 0
