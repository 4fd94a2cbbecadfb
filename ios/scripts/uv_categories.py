"""The notification-category rule of user verification, checked in ios/Sources (no Swift compiler).

Face ID cannot be shown to a notification action that runs in the background, so a request that
needs user verification must get a category whose approving action opens the app
(`.foreground`); otherwise the answer is refused or dropped. This checks
Sources/Tapprove/NotificationCategories.swift for:

- `category(for:)` deciding on `request.userVerification` and returning the verify categories;
- each verify category's approving action (Approve / Type code) built with `.foreground`,
  inline or through a `let NAME: UNNotificationActionOptions = [...]`.

`self_test` mutates the real file (drops `.foreground`, ignores `userVerification`) and expects
each mutation to be caught.
"""

import re
from pathlib import Path

VERIFY_CATEGORIES = ("loginEntryVerify", "loginNoCodeVerify")
APPROVING = ("approve", "typeCode")


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def body_of(src, signature):
    """The text between the braces of the first declaration starting with `signature`."""
    start = src.find(signature)
    if start < 0:
        return None
    i = src.find("{", start)
    depth = 0
    for j in range(i, len(src)):
        depth += {"{": 1, "}": -1}.get(src[j], 0)
        if depth == 0:
            return src[i + 1 : j]
    return None


def option_sets(src):
    """`let NAME: UNNotificationActionOptions = [...]` -> the options' text."""
    return {m.group(1): m.group(2) for m in re.finditer(r"let\s+(\w+)\s*:\s*UNNotificationActionOptions\s*=\s*\[([^\]]*)\]", src)}


def problems(source):
    src = strip_comments(source)
    found = []
    body = body_of(src, "func category(for")
    if body is None:
        return ["NotificationCategories.category(for:) is missing"]
    if "userVerification" not in body:
        found.append("category(for:) ignores request.userVerification: a request that needs Face ID would get a background action")
    for name in VERIFY_CATEGORIES:
        if name not in body:
            found.append(f"category(for:) never returns {name}")
    options = option_sets(src)
    for name in VERIFY_CATEGORIES:
        m = re.search(r"UNNotificationCategory\(\s*identifier:\s*" + name + r"\s*,\s*actions:\s*\[([^\]]*)\]", src)
        if not m:
            found.append(f"no UNNotificationCategory registered for {name}")
            continue
        approving = [a.strip() for a in m.group(1).split(",") if a.strip().startswith(APPROVING)]
        if not approving:
            found.append(f"{name} has no approving action")
        for action in approving:
            arg = re.search(r"\((.*)\)", action)
            opts = arg.group(1).strip() if arg else ""
            text = options.get(opts, opts)
            if ".foreground" not in text:
                found.append(f"{name}: the approving action {action} does not open the app (.foreground), so Face ID cannot run")
    return found


def self_test(path: Path):
    src = path.read_text(encoding="utf-8")
    failures = []
    if problems(src):
        failures.append(f"the real file is refused: {problems(src)}")
    mutations = {
        "no .foreground": src.replace(", .foreground]", "]"),
        "userVerification ignored": src.replace("request.userVerification != nil", "false"),
    }
    for what, mutated in mutations.items():
        if mutated == src:
            failures.append(f"mutation {what!r} did not apply (did the source change shape?)")
        elif not problems(mutated):
            failures.append(f"mutation {what!r} was not caught")
    return failures
