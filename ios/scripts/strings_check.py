#!/usr/bin/env python3
"""Check the iOS shell's languages: the string catalog and the Swift that uses it.

- Sources/Tapprove/Resources/Localizable.xcstrings: every key translated in English and German
  (plural keys with at least `one` and `other`), with the same format placeholders in both;
- the same for the sample (Sample/TapproveSample/Localizable.xcstrings, SampleStrings.swift) and
  its InfoPlist.xcstrings;
- every key the shell asks for (`text("…")` / `format("…")`) is in the catalog, and every
  catalog key is asked for;
- no user-facing literal in ios/Sources and ios/Sample (the generated bindings excepted): a string literal that
  reads as words is refused unless it is a diagnostic (an `AuthError` detail for the core's
  typed error, a log line, a precondition) or a catalog key;
- no core `userMessage()` shown to users: it is English, for logs only; outside a log call
  (print, log, a precondition) the shell shows `error.localizedMessage` (Strings.error);
- no use of a login context's `userAgent`: it is the sign-in page visitor's own text (it may
  read like an instruction from us), so the shell shows the service's signed `browser` / `os`
  names through the catalog (Strings.browser) instead.

Usage:
  strings_check.py IOS_DIR           check
  strings_check.py --self-test IOS_DIR   show that a literal and a missing translation are caught
"""

import json
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ left in the tree

import tree_sitter_swift
from tree_sitter import Language, Parser

from swift_syntax_check import neutralise

# The rules both shells' checks share: tests/strings/shell_strings.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "strings"))
from shell_strings import main as run, reads_as_words, self_test_result, translation_problems, undefined_problems, unused_problems  # noqa: E402

PARSER = Parser(Language(tree_sitter_swift.language()))
LANGUAGES = ("en", "de")
# Calls whose string arguments are diagnostics or keys, never shown as our own words.
EXEMPT_CALLS = {"Platform", "Network", "Internal", "InvalidInput", "NSLocalizedString", "text", "format",
                "print", "fatalError", "precondition", "preconditionFailure", "assert", "assertionFailure", "log",
                "failure"}
# Functions that build diagnostics (the `AuthError` details of the keychain and Secure Enclave).
EXEMPT_FUNCTIONS = {"failure"}
PLACEHOLDER = re.compile(r"%(?:\d+\$)?(?:ll|l)?[@dDuUxXfeEgGcCsSp]")


def catalog_problems(catalog, where="catalog"):
    """The translation rules over a string catalog (`stringUnit` or `variations.plural`)."""
    table = {}
    for key, entry in catalog.get("strings", {}).items():
        table[key] = {}
        for lang, loc in entry.get("localizations", {}).items():
            if "stringUnit" in loc:
                table[key][lang] = ("string", {"": loc["stringUnit"].get("value", "")})
            else:
                plural = loc.get("variations", {}).get("plural", {})
                table[key][lang] = ("plural", {q: v.get("stringUnit", {}).get("value", "") for q, v in plural.items()})
    return translation_problems(where, table, LANGUAGES, PLACEHOLDER)


def call_name(node, src):
    """The called name of a call_expression (`AuthError.Platform(…)` -> Platform)."""
    callee = node.children[0] if node.children else None
    if callee is None:
        return None
    text = src[callee.start_byte : callee.end_byte].decode("utf-8", "replace")
    return text.rsplit(".", 1)[-1]


def literal_problems(path):
    source = path.read_text(encoding="utf-8")
    src = neutralise(source).encode("utf-8")
    tree = PARSER.parse(src)
    problems = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "line_string_literal" or node.type == "multi_line_string_literal":
            words = "".join(
                src[c.start_byte : c.end_byte].decode("utf-8", "replace")
                for c in node.children if c.type == "line_str_text" or c.type == "multi_line_str_text"
            ).strip()
            if reads_as_words(words) and not exempt(node, src):
                problems.append(f"{path}:{node.start_point[0] + 1}: user-facing literal {words!r}: put it in Localizable.xcstrings (Strings.swift)")
            continue
        stack.extend(node.children)
    return problems


def user_message_problems(path):
    src = neutralise(path.read_text(encoding="utf-8")).encode("utf-8")
    problems = []
    stack = [PARSER.parse(src).root_node]
    while stack:
        node = stack.pop()
        if node.type == "call_expression" and call_name(node, src) == "userMessage" and not exempt(node, src):
            problems.append(f"{path}:{node.start_point[0] + 1}: the core's English userMessage() shown to the user: use error.localizedMessage (Strings.error)")
        stack.extend(node.children)
    return problems


USER_AGENT = re.compile(r"\.userAgent\b")


def user_agent_problems(path):
    problems = []
    for number, line in enumerate(neutralise(path.read_text(encoding="utf-8")).splitlines(), 1):
        if USER_AGENT.search(line.split("//", 1)[0]):
            problems.append(f"{path}:{number}: shows the raw user agent: use the signed context.browser / context.os (Strings.browser)")
    return problems


def exempt(node, src):
    parent = node.parent
    while parent is not None and parent.type not in ("class_body", "source_file"):
        if parent.type == "call_expression" and call_name(parent, src) in EXEMPT_CALLS:
            return True
        if parent.type == "function_declaration":
            name = parent.child_by_field_name("name")
            return name is not None and src[name.start_byte : name.end_byte].decode() in EXEMPT_FUNCTIONS
        parent = parent.parent
    return False


# (Swift sources, their catalog, the file that asks the catalog for keys), relative to ios/.
MODULES = (
    ("Sources/Tapprove", "Sources/Tapprove/Resources/Localizable.xcstrings", "Sources/Tapprove/Strings.swift"),
    ("Sample", "Sample/TapproveSample/Localizable.xcstrings", "Sample/TapproveSample/SampleStrings.swift"),
)


def used_keys(strings_swift):
    return set(re.findall(r'\b(?:text|format)\("([^"]+)"', strings_swift.read_text(encoding="utf-8")))


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def problems_of(ios_dir, catalogs=None):
    problems = []
    for sources, catalog_path, strings_swift in MODULES:
        catalog = (catalogs or {}).get(catalog_path) or load(ios_dir / catalog_path)
        problems += catalog_problems(catalog, catalog_path)
        keys = set(catalog.get("strings", {}))
        used = used_keys(ios_dir / strings_swift)
        problems += undefined_problems(f"{strings_swift} → {catalog_path}", keys, used)
        problems += unused_problems(catalog_path, keys, used)
        for path in sorted((ios_dir / sources).rglob("*.swift")):
            if "Generated" not in path.parts:
                problems += literal_problems(path)
                problems += user_message_problems(path)
                problems += user_agent_problems(path)
    # Info.plist texts (NSFaceIDUsageDescription): translated too.
    info = ios_dir / "Sample/TapproveSample/InfoPlist.xcstrings"
    problems += catalog_problems(load(info), info.name)
    return problems


def self_test(ios_dir):
    failures = []
    if problems_of(ios_dir):
        failures.append(f"the real catalogs and sources are refused: {problems_of(ios_dir)}")
    catalog = load(ios_dir / MODULES[0][1])
    broken = json.loads(json.dumps(catalog))
    first = sorted(broken["strings"])[0]
    del broken["strings"][first]["localizations"]["de"]
    if not any("is missing from de" in p for p in catalog_problems(broken)):
        failures.append("a missing German translation was not caught")
    tmp = Path(ios_dir.parent / "target" / "strings-check-self-test.swift")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text('let t = "Login request"\nlet d = AuthError.Platform(detail: "the keychain failed")\n', encoding="utf-8")
    found = literal_problems(tmp)
    tmp.write_text("let ua = request.context.userAgent ?? \"\"\nlet b = Strings.browser(request.context)\n", encoding="utf-8")
    agent = user_agent_problems(tmp)
    tmp.write_text('func f(_ e: AuthError) {\n    print("failed: \\(e.userMessage())")\n    status = e.userMessage()\n}\n', encoding="utf-8")
    shown = user_message_problems(tmp)
    tmp.unlink()
    if len(found) != 1 or "Login request" not in found[0]:
        failures.append(f"literal check: expected only 'Login request' to be caught, got {found}")
    if len(shown) != 1 or ":3:" not in shown[0]:
        failures.append(f"userMessage check: expected only line 3 (status = e.userMessage()) to be caught, got {shown}")
    if len(agent) != 1 or ":1:" not in agent[0]:
        failures.append(f"user agent check: expected only line 1 (context.userAgent) to be caught, got {agent}")
    return self_test_result(
        "strings_check", failures,
        "a user-facing literal, a shown userMessage(), a shown user agent and a missing German translation caught; a diagnostic and a logged userMessage() passed",
    )


def check(ios_dir):
    keys = sum(len(load(ios_dir / c)["strings"]) for _, c, _ in MODULES)
    return problems_of(ios_dir), f"strings_check: {keys} keys in English and German (package and sample), no user-facing literal or shown userMessage() in ios/Sources or ios/Sample"


if __name__ == "__main__":
    sys.exit(run(sys.argv, __doc__, "iOS", check, self_test))
