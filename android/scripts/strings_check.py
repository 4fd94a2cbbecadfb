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

# (resource dir, Kotlin source dirs using it)
MODULES = (
    ("src/main/res", ("src/main/kotlin", "src/common/kotlin", "fcm/src/main/kotlin", "unifiedpush/src/main/kotlin")),
    ("sample/src/main/res", ("sample/src/main/kotlin",)),
)
LANGUAGES = ("values", "values-de")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
TEMPLATE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_.]*")
WORDS = re.compile(r"[A-Za-z]{2,}[,.:;!?]?\s+[A-Za-z]{2,}|^[A-Z][a-z]+[.!?…]?$")
DIAGNOSTIC = re.compile(r"\bLog\.[a-z]\(|\berror\(|\bcheck\(|\brequire\(|Exception\(|Exception\.[A-Za-z]+\(|\bcheckNotNull\(|\bval (?:tag|TAG)\b")
USER_MESSAGE = re.compile(r"\.userMessage\(\)")
# PushResult.Ignore's reason is only ever logged (Tapprove.kt), never shown.
LOGGED_ONLY = re.compile(r"PushResult\.Ignore\(")
PLACEHOLDER = re.compile(r"%(?:\d+\$)?[sdfx]")
USE = re.compile(r"\bR\.(string|plurals)\.([A-Za-z0-9_]+)")
XML_USE = re.compile(r"@string/([A-Za-z0-9_]+)")


def resources(path):
    """name -> (kind, [texts]) of one strings.xml."""
    out = {}
    for el in ET.parse(path).getroot():
        name = el.get("name")
        if el.tag == "string":
            out[name] = ("string", [el.text or ""])
        elif el.tag == "plurals":
            items = {i.get("quantity"): i.text or "" for i in el.findall("item")}
            out[name] = ("plurals", items)
    return out


def resource_problems(res_dir):
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
    en, de = langs["values"], langs["values-de"]
    for name in sorted(set(en) ^ set(de)):
        missing = "values-de" if name in en else "values"
        problems.append(f"{res_dir}: {name} is missing from {missing}/strings.xml")
    for name in sorted(set(en) & set(de)):
        (kind_en, en_texts), (kind_de, de_texts) = en[name], de[name]
        if kind_en != kind_de:
            problems.append(f"{res_dir}: {name} is a {kind_en} in English but a {kind_de} in German")
            continue
        if kind_en == "plurals":
            for lang, items in (("values", en_texts), ("values-de", de_texts)):
                for q in ("one", "other"):
                    if q not in items:
                        problems.append(f"{res_dir}/{lang}: plurals {name} has no quantity {q!r}")
            en_texts, de_texts = list(en_texts.values()), list(de_texts.values())
        ph_en = {tuple(sorted(PLACEHOLDER.findall(t))) for t in en_texts}
        ph_de = {tuple(sorted(PLACEHOLDER.findall(t))) for t in de_texts}
        if ph_en != ph_de:
            problems.append(f"{res_dir}: {name} has placeholders {ph_en} in English but {ph_de} in German")
        if any(not t.strip() for t in en_texts + de_texts):
            problems.append(f"{res_dir}: {name} is empty in a language")
    return problems, en


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
            if WORDS.search(words):
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
            unknown = {u for u in used if u not in defined and u not in library}
        else:
            unknown = {u for u in used if u not in defined}
        problems += [f"{res}: R.string/plurals.{u} is used but not defined" for u in sorted(unknown)]
        if res == "src/main/res":
            sample_used = set()
            for f in kotlin_files(android, ("sample/src/main/kotlin",)):
                sample_used |= {name for _, name in USE.findall(f.read_text(encoding="utf-8"))}
            used |= sample_used
        problems += [f"{res}: {u} is defined but never used" for u in sorted(set(defined) - used)]
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
    for want in ("b is missing from values-de", "a has placeholders", "plurals c has no quantity 'other'"):
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
    for f in failures:
        print("strings_check self-test:", f)
    if failures:
        return 1
    print("strings_check self-test: a missing German string, a placeholder mismatch, a missing plural form, a user-facing literal and a shown userMessage() caught; a log line and a constant passed")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        return self_test(Path(sys.argv[2]).resolve())
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    android = Path(sys.argv[1]).resolve()
    problems = problems_of(android)
    for p in problems:
        print(p)
    if problems:
        print(f"strings_check: {len(problems)} problem(s) with the Android shell's languages")
        return 1
    print("strings_check: library and sample strings complete in English and German; no user-facing literal or shown userMessage() in src/main, src/common, fcm/ or sample/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
