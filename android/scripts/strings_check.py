#!/usr/bin/env python3
"""Check the Android shell's languages: string resources and the Kotlin that uses them.

For the library (src/main/res, R of dev.tapprove.android) and the sample (sample/src/main/res):
- values/strings.xml and values-de/strings.xml define the same <string> and <plurals> names,
  plurals with at least `one` and `other`, and the same placeholders in both languages;
- every R.string / R.plurals name the Kotlin uses is defined, and every defined name is used;
- no user-facing literal in the Kotlin of src/main, src/common (Android-free code shared with
  the JVM tests: it returns typed values that src/main renders), the FCM adapter (fcm/) and the
  sample: a
  string literal that reads as words is refused unless it is a diagnostic on the same line (a
  log line, error()/check()/require(), an exception's message for the core's typed error);
- no core `userMessage()` shown to users: it is English, for logs only; outside a log line
  (or PushResult.Ignore's reason, which is only logged) the shell renders the error's type
  through Texts.error.

Usage:
  strings_check.py ANDROID_DIR               check
  strings_check.py --self-test ANDROID_DIR   show that a literal and a missing translation are caught
"""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ left in the tree
# The rules both shells' checks share: tests/strings/shell_strings.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "strings"))
from shell_strings import main as run, reads_as_words, self_test_result, translation_problems, undefined_problems, unused_problems  # noqa: E402

# (resource dir, Kotlin source dirs using it)
MODULES = (
    ("src/main/res", ("src/main/kotlin", "src/common/kotlin", "fcm/src/main/kotlin", "unifiedpush/src/main/kotlin")),
    ("sample/src/main/res", ("sample/src/main/kotlin",)),
)
LANGUAGES = ("values", "values-de")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
TEMPLATE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_.]*")
DIAGNOSTIC = re.compile(r"\bLog\.[a-z]\(|\berror\(|\bcheck\(|\brequire\(|Exception\(|Exception\.[A-Za-z]+\(|\bcheckNotNull\(|\bval (?:tag|TAG)\b")
USER_MESSAGE = re.compile(r"\.userMessage\(\)")
# PushResult.Ignore's reason is only ever logged (Tapprove.kt), never shown.
LOGGED_ONLY = re.compile(r"PushResult\.Ignore\(")
PLACEHOLDER = re.compile(r"%(?:\d+\$)?[sdfx]")
USE = re.compile(r"\bR\.(string|plurals)\.([A-Za-z0-9_]+)")
XML_USE = re.compile(r"@string/([A-Za-z0-9_]+)")


def resources(path):
    """name -> (kind, {form: text}) of one strings.xml: "string" (one form) or "plural"."""
    out = {}
    for el in ET.parse(path).getroot():
        name = el.get("name")
        if el.tag == "string":
            out[name] = ("string", {"": el.text or ""})
        elif el.tag == "plurals":
            out[name] = ("plural", {i.get("quantity"): i.text or "" for i in el.findall("item")})
    return out


def resource_problems(res_dir):
    """The translation rules over values/ and values-de/; the English names."""
    problems = []
    langs = {}
    for lang in LANGUAGES:
        path = res_dir / lang / "strings.xml"
        if not path.is_file():
            problems.append(f"{path} is missing")
            continue
        langs[lang] = resources(path)
    if len(langs) != len(LANGUAGES):
        return problems, {}
    table = {}
    for lang, names in langs.items():
        for name, entry in names.items():
            table.setdefault(name, {})[lang] = entry
    return problems + translation_problems(res_dir, table, LANGUAGES, PLACEHOLDER), langs["values"]


def kotlin_files(android, dirs):
    return [p for d in dirs for p in sorted((android / d).rglob("*.kt"))]


def literal_problems(path):
    problems = []
    in_block = False
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if in_block:
            in_block = "*/" not in stripped
            continue
        if stripped.startswith("/*"):
            in_block = "*/" not in stripped
            continue
        if stripped.startswith(("//", "*", "import ", "package ")):
            continue
        code = line.split(" // ", 1)[0]
        if DIAGNOSTIC.search(code):
            continue
        if USER_MESSAGE.search(code) and not LOGGED_ONLY.search(code):
            problems.append(f"{path}:{n}: the core's English userMessage() shown to the user: render the error with Texts.error")
        for m in LITERAL.finditer(code):
            words = TEMPLATE.sub(" ", m.group(1)).strip()
            if reads_as_words(words):
                problems.append(f"{path}:{n}: user-facing literal {m.group(1)!r}: put it in res/values*/strings.xml")
    return problems


def problems_of(android):
    problems = []
    for res, sources in MODULES:
        found, defined = resource_problems(android / res)
        problems += found
        files = kotlin_files(android, sources)
        used = set()
        for f in files:
            text = f.read_text(encoding="utf-8")
            used |= {name for _, name in USE.findall(text)}
            problems += literal_problems(f)
        manifest = android / res.replace("/res", "/AndroidManifest.xml")
        if manifest.is_file():
            used |= set(XML_USE.findall(manifest.read_text(encoding="utf-8")))
        # The sample may use the library's strings; the library never the sample's.
        if res.startswith("sample"):
            library = resources(android / "src/main/res/values/strings.xml")
            problems += undefined_problems(res, set(defined) | set(library), used)
        else:
            problems += undefined_problems(res, defined, used)
        if res == "src/main/res":
            for f in kotlin_files(android, ("sample/src/main/kotlin",)):
                used |= {name for _, name in USE.findall(f.read_text(encoding="utf-8"))}
        problems += unused_problems(res, defined, used)
    return problems


def self_test(android):
    failures = []
    if problems_of(android):
        failures.append(f"the real resources and sources are refused: {problems_of(android)}")
    tmp = android.parent / "target" / "strings-check-self-test"
    (tmp / "values").mkdir(parents=True, exist_ok=True)
    (tmp / "values-de").mkdir(parents=True, exist_ok=True)
    (tmp / "values" / "strings.xml").write_text(
        '<resources><string name="a">Hello %1$s</string><string name="b">Bye</string>'
        '<plurals name="c"><item quantity="one">%d day</item></plurals></resources>', encoding="utf-8")
    (tmp / "values-de" / "strings.xml").write_text(
        '<resources><string name="a">Hallo</string><plurals name="c"><item quantity="one">%d Tag</item>'
        '<item quantity="other">%d Tage</item></plurals></resources>', encoding="utf-8")
    found, _ = resource_problems(tmp)
    for want in ("b is missing from values-de", "a has different placeholders", "c (values) has no plural form 'other'"):
        if not any(want in f for f in found):
            failures.append(f"not caught: {want} (reported: {found})")
    kt = tmp / "Sample.kt"
    kt.write_text('val t = "Login request"\nval u = getString(R.string.a)\nfun f() { Log.w("Tapprove", "not shown: $x") }\n'
                  'val k = "dev.tapprove.action.ANSWER"\n'
                  'fun g(e: AuthException) { show(e.userMessage()) }\n'
                  'fun h(e: AuthException) { Log.w("Tapprove", "failed: ${e.userMessage()}") }\n', encoding="utf-8")
    lit = literal_problems(kt)
    if len(lit) != 2 or "Login request" not in lit[0] or "userMessage()" not in lit[1]:
        failures.append(f"literal check: expected only 'Login request' and the shown userMessage() to be caught, got {lit}")
    return self_test_result(
        "strings_check", failures,
        "a missing German string, a placeholder mismatch, a missing plural form, a user-facing literal and a shown userMessage() caught; a log line and a constant passed",
    )


def check(android):
    return problems_of(android), "strings_check: library and sample strings complete in English and German; no user-facing literal or shown userMessage() in src/main, src/common, fcm/ or sample/"


if __name__ == "__main__":
    sys.exit(run(sys.argv, __doc__, "Android", check, self_test))
