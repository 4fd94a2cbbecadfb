#!/usr/bin/env python3
"""Parse Swift files with tree-sitter-swift and fail on any syntax error.

There is no Swift compiler on Linux CI here, so this is the Swift check: every generated and
hand-written .swift file must parse. Two forms that are valid Swift but that tree-sitter-swift
0.7.4 cannot parse are neutralised first (line numbers are kept, so reported positions are real):

1. an attribute alone inside `#if swift(>=5.8)` ... `#endif` in front of a declaration
   (uniffi emits `@_documentation(visibility: private)` this way);
2. the empty-tuple closure `{ () }`.

Usage: swift_syntax_check.py FILE_OR_DIR...   (exit 1 on the first file with errors, after
reporting all of them)
"""

import re
import sys
from pathlib import Path

import tree_sitter_swift
from tree_sitter import Language, Parser

ATTRIBUTE_ONLY = re.compile(r"^\s*@[A-Za-z_][A-Za-z0-9_]*(\(.*\))?\s*$")
IF_SWIFT = re.compile(r"^\s*#if\s+swift\([^)]*\)\s*$")
ENDIF = re.compile(r"^\s*#endif\s*$")


def neutralise(source: str) -> str:
    lines = source.split("\n")
    out = list(lines)
    i = 0
    while i < len(lines):
        if IF_SWIFT.match(lines[i]):
            j = i + 1
            while j < len(lines) and ATTRIBUTE_ONLY.match(lines[j]):
                j += 1
            if j > i + 1 and j < len(lines) and ENDIF.match(lines[j]):
                for k in range(i, j + 1):
                    out[k] = ""
                i = j + 1
                continue
        i += 1
    text = "\n".join(out)
    return text.replace("{ () }", "{    }")


def errors(tree, source_bytes):
    found = []
    cursor = [tree.root_node]
    while cursor:
        node = cursor.pop()
        if node.is_error or node.is_missing:
            line, col = node.start_point
            what = "missing " + node.type if node.is_missing else "syntax error"
            snippet = source_bytes[node.start_byte : min(node.end_byte, node.start_byte + 60)]
            found.append((line + 1, col + 1, what, snippet.decode("utf-8", "replace")))
        elif node.has_error:
            cursor.extend(node.children)
    return sorted(found)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    files = []
    for arg in argv[1:]:
        p = Path(arg)
        if p.is_dir():
            files.extend(sorted(p.rglob("*.swift")))
        elif p.suffix == ".swift":
            files.append(p)
    if not files:
        print("swift check: no .swift files found in " + " ".join(argv[1:]), file=sys.stderr)
        return 1
    parser = Parser(Language(tree_sitter_swift.language()))
    bad = 0
    for f in files:
        source = neutralise(f.read_text(encoding="utf-8")).encode("utf-8")
        tree = parser.parse(source)
        errs = errors(tree, source)
        if errs:
            bad += 1
            for line, col, what, snippet in errs[:10]:
                print(f"{f}:{line}:{col}: {what}: {snippet!r}", file=sys.stderr)
    print(f"swift check: {len(files)} files parsed, {bad} with syntax errors")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
