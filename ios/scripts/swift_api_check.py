#!/usr/bin/env python3
"""Check that the Swift shell uses only API the generated bindings really declare.

There is no Swift compiler on CI, so an FFI rename (a function, a method, a type, an argument
label) would otherwise first break an app developer's Xcode build. This reads the generated
Swift (tree-sitter-swift) for every type, function, method, initializer, property and enum case
it declares, with argument labels and which parameters have defaults; then it walks every
`.swift` file of ios/Sources and ios/Sample (not Sources/Tapprove/Generated, a copy) for:

- type references (`LoginRequest`, `[Account]`, `AuthError`),
- calls with their argument labels (`auth.handlePush(payloadJson:)`, `ServiceConfig(serverUrl:
  sdkKey:deviceName:)`, `initLogging(level:logger:)`, `.approve(presenceAnswer:)`),
- member and enum-case references (`request.context.app`, `.choose`).

Each name must be declared by the generated bindings (and then a call's labels must match one of
its declarations, defaults and a trailing closure allowed), or declared in ios/ itself, or be a
known Apple / Swift standard library name listed in swift_platform_names.txt. Receiver types are
not inferred (that needs a compiler), so members are matched by name and labels across all types.

The phone build has no TLS of its own, so the SDK's networking goes through foreign traits the
shell implements: some class of ios/Sources must conform to each of HttpTransport,
HttpStreamTransport and HttpBodyStream with every method of the generated protocol (same labels),
and the `withTransport(...)` call must hand over a `streaming:` transport (else `listen` would
bypass URLSession and reach only a plain-http service).

It also holds Sources/Tapprove/NotificationCategories.swift to the user-verification rule
(uv_categories.py): a request that needs Face ID gets a category whose approving action opens the
app (`.foreground`).

Usage:
  swift_api_check.py GENERATED.swift IOS_DIR     check ios/ against the generated bindings
  swift_api_check.py --self-test FIXTURE_DIR     show that a renamed function or label is caught
"""

import sys
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_swift
from tree_sitter import Language, Parser

from swift_syntax_check import neutralise
import uv_categories

PARSER = Parser(Language(tree_sitter_swift.language()))
HERE = Path(__file__).resolve().parent
PLATFORM_NAMES = HERE / "swift_platform_names.txt"

# Parameter list: one (label or None for `_`, has a default) per parameter.
Params = tuple


@dataclass
class Api:
    """Declared names: types, callables (name -> parameter lists) and plain members."""

    types: set = field(default_factory=set)
    functions: dict = field(default_factory=dict)  # free functions
    inits: dict = field(default_factory=dict)  # type name -> parameter lists
    methods: dict = field(default_factory=dict)  # methods, static funcs, cases with values
    members: set = field(default_factory=set)  # properties, cases, methods (by name)
    values: set = field(default_factory=set)  # parameters, variables, closure parameters
    public_only: bool = True  # the generated file: its private declarations are not usable

    def add_callable(self, table, name, params):
        table.setdefault(name, []).append(params)


def text(node, src):
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def parse(path):
    src = neutralise(path.read_text(encoding="utf-8")).encode("utf-8")
    return PARSER.parse(src), src


def is_private(node, src, api):
    if not api.public_only:
        return False
    for child in node.children:
        if child.type == "modifiers":
            for m in child.children:
                if m.type == "visibility_modifier" and text(m, src).startswith(("private", "fileprivate")):
                    return True
    return False


def params_of(node, src):
    out = []
    children = node.children
    for i, child in enumerate(children):
        if child.type != "parameter":
            continue
        external = child.child_by_field_name("external_name")
        name = child.child_by_field_name("name")
        label = text(external, src) if external is not None else (text(name, src) if name is not None else None)
        # A default value follows the parameter as `= value` in the parent's children.
        has_default = i + 1 < len(children) and children[i + 1].type == "="
        out.append((None if label == "_" else label, has_default))
    return tuple(out)


def enclosing_type(node, src):
    n = node.parent
    while n is not None:
        if n.type in ("class_declaration", "protocol_declaration"):
            name = n.child_by_field_name("name")
            if name is not None:
                return text(name, src).split("<")[0].split(".")[-1]
        n = n.parent
    return None


def is_top_level(node):
    n = node.parent
    while n is not None:
        if n.type in ("class_declaration", "protocol_declaration", "function_declaration", "init_declaration"):
            return False
        n = n.parent
    return True


def declarations(tree, src, api):
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        kind = node.type
        if kind in ("class_declaration", "protocol_declaration", "typealias_declaration") and not is_private(node, src, api):
            name = node.child_by_field_name("name")
            decl_kind = node.child_by_field_name("declaration_kind")
            if name is not None and (decl_kind is None or text(decl_kind, src) != "extension"):
                api.types.add(text(name, src).split("<")[0])
        elif kind in ("function_declaration", "protocol_function_declaration") and not is_private(node, src, api):
            name = node.child_by_field_name("name")
            if name is None:
                continue
            params = params_of(node, src)
            if is_top_level(node):
                api.add_callable(api.functions, text(name, src), params)
            else:
                api.add_callable(api.methods, text(name, src), params)
                api.members.add(text(name, src))
        elif kind == "init_declaration" and not is_private(node, src, api):
            owner = enclosing_type(node, src)
            if owner is not None:
                api.add_callable(api.inits, owner, params_of(node, src))
        elif kind in ("property_declaration", "protocol_property_declaration") and not is_private(node, src, api):
            for child in node.children:
                if child.type == "pattern":
                    bound = child.child_by_field_name("bound_identifier")
                    if bound is not None:
                        api.members.add(text(bound, src))
        elif kind in ("parameter", "lambda_parameter"):
            name = node.child_by_field_name("name")
            if name is not None and name.type == "simple_identifier":
                api.values.add(text(name, src))
        elif kind == "pattern":
            bound = node.child_by_field_name("bound_identifier")
            if bound is not None:
                api.values.add(text(bound, src))
        elif kind == "enum_entry":
            names = [c for c in node.children if c.type == "simple_identifier"]
            for n in names:
                api.members.add(text(n, src))
            data = node.child_by_field_name("data_contents")
            if data is not None and names:
                # `(x: Int, String)`: one parameter per comma-separated part, labelled or not.
                labels, current = [], None
                for c in data.children:
                    if c.type == "simple_identifier":
                        current = text(c, src)
                    elif c.type in (",", ")"):
                        labels.append((current, False))
                        current = None
                api.add_callable(api.methods, text(names[-1], src), tuple(labels))


@dataclass
class Use:
    path: Path
    line: int
    kind: str  # "type", "call", "member"
    name: str
    labels: tuple = ()
    trailing_closure: bool = False


def call_labels(call_suffix, src):
    labels, trailing = [], False
    for child in call_suffix.children:
        if child.type == "value_arguments":
            for arg in child.children:
                if arg.type == "value_argument":
                    label = arg.child_by_field_name("name")
                    labels.append(text(label, src) if label is not None else None)
        elif child.type == "lambda_literal":
            trailing = True
    return tuple(labels), trailing


def member_name(node, src):
    """The member a navigation or implicit-member (`.name`) expression names."""
    if node.type == "navigation_expression":
        suffix = node.child_by_field_name("suffix")
        if suffix is not None:
            inner = suffix.child_by_field_name("suffix")
            if inner is not None and inner.type == "simple_identifier":
                return text(inner, src)
    elif node.type == "prefix_expression":
        op = node.child_by_field_name("operation")
        target = node.child_by_field_name("target")
        if op is not None and text(op, src) == "." and target is not None and target.type == "simple_identifier":
            return text(target, src)
    return None


def uses(path, tree, src):
    found = []
    callees = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        line = node.start_point[0] + 1
        if node.type == "user_type":
            for child in node.children:
                if child.type == "type_identifier":
                    found.append(Use(path, line, "type", text(child, src)))
        elif node.type == "call_expression" and len(node.children) >= 2 and node.children[-1].type == "call_suffix":
            callee = node.children[0]
            labels, trailing = call_labels(node.children[-1], src)
            if callee.type == "simple_identifier":
                found.append(Use(path, line, "call", text(callee, src), labels, trailing))
                callees.add(callee.id)
            else:
                name = member_name(callee, src)
                if name is not None:
                    found.append(Use(path, line, "method", name, labels, trailing))
                    callees.add(callee.id)
        elif node.type in ("navigation_expression", "prefix_expression") and node.id not in callees:
            name = member_name(node, src)
            if name is not None:
                found.append(Use(path, line, "member", name))
    return found


def matches(params, labels, trailing):
    """Whether a call with `labels` (and a trailing closure) fits a declaration's parameters."""
    i = 0
    rest = list(params)
    for label in labels:
        while rest and rest[0][0] != label and rest[0][1]:
            rest.pop(0)  # skipped parameter with a default
        if not rest or rest[0][0] != label:
            return False
        rest.pop(0)
        i += 1
    if trailing:
        while len(rest) > 1 and rest[0][1]:
            rest.pop(0)
        if rest:
            rest.pop(0)
    return all(has_default for _, has_default in rest)


def signature(name, params):
    return name + "(" + "".join(f"{label or '_'}:" for label, _ in params) + ")"


def check(generated_files, ios_files, platform):
    api, local = Api(), Api(public_only=False)
    for path in generated_files:
        tree, src = parse(path)
        declarations(tree, src, api)
    parsed = []
    for path in ios_files:
        tree, src = parse(path)
        declarations(tree, src, local)
        parsed.append((path, tree, src))
    if not api.types or not api.functions:
        return [f"no declarations found in {', '.join(map(str, generated_files))}: is it the generated Swift?"], 0

    problems, checked = [], 0
    for path, tree, src in parsed:
        for use in uses(path, tree, src):
            where = f"{use.path}:{use.line}"
            if use.kind == "type":
                if use.name in api.types:
                    checked += 1
                elif use.name not in local.types and use.name not in platform:
                    problems.append(f"{where}: type {use.name} is not in the generated bindings")
                continue
            if use.kind == "call":
                tables = [api.functions, api.inits, api.methods]
                local_known = (use.name in local.functions or use.name in local.inits or use.name in local.methods
                               or use.name in local.types or use.name in local.values)
            elif use.kind == "method":
                tables = [api.methods]
                local_known = use.name in local.methods or use.name in local.members
            else:
                tables = None
                local_known = use.name in local.members or use.name in local.types
            if use.kind == "member":
                if use.name in api.members or use.name in api.methods:
                    checked += 1
                elif not local_known and use.name not in platform:
                    problems.append(f"{where}: .{use.name} is not in the generated bindings")
                continue
            declared = [p for t in tables for p in t.get(use.name, [])]
            if declared:
                if any(matches(p, use.labels, use.trailing_closure) for p in declared):
                    checked += 1
                    # uniffi's async calls ignore Swift task cancellation: each one must be
                    # given the CancelToken of withCancelToken (Cancellation.swift).
                    if all(any(label == "cancel" for label, _ in p) for p in declared) and "cancel" not in use.labels:
                        problems.append(f"{where}: {use.name}(…) without cancel: (wrap it in withCancelToken so task cancellation reaches the core)")
                elif not local_known and use.name not in platform:
                    wanted = signature(use.name, [(l, False) for l in use.labels])
                    have = ", ".join(sorted({signature(use.name, p) for p in declared}))
                    problems.append(f"{where}: {wanted} does not match the generated {have}")
            elif not local_known and use.name not in platform:
                problems.append(f"{where}: {use.name}(…) is not in the generated bindings")
    return problems, checked


# Foreign traits the phone build needs implemented by the shell (see the module docstring).
REQUIRED_CONFORMANCES = ("HttpTransport", "HttpStreamTransport", "HttpBodyStream")


def protocols(tree, src):
    """Protocol name -> its required functions as (name, parameter list)."""
    out = {}
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type == "protocol_declaration":
            name = node.child_by_field_name("name")
            body = node.child_by_field_name("body")
            if name is None or body is None:
                continue
            funcs = []
            for child in body.children:
                if child.type == "protocol_function_declaration":
                    fname = child.child_by_field_name("name")
                    if fname is not None:
                        funcs.append((text(fname, src), params_of(child, src)))
            out[text(name, src)] = funcs
    return out


def classes(tree, src):
    """(class name, line, the names it inherits from, method name -> parameter lists)."""
    out = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "class_declaration":
            continue
        name = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        inherits = {text(c, src).strip() for c in node.children if c.type == "inheritance_specifier"}
        methods = {}
        for child in body.children if body is not None else []:
            if child.type == "function_declaration":
                fname = child.child_by_field_name("name")
                if fname is not None:
                    methods.setdefault(text(fname, src), []).append(params_of(child, src))
        out.append((text(name, src) if name is not None else "?", node.start_point[0] + 1, inherits, methods))
    return out


def conformance_problems(generated_files, source_files):
    """What the shell lacks of the transports the phone build needs."""
    protos = {}
    for path in generated_files:
        tree, src = parse(path)
        protos.update(protocols(tree, src))
    found, streaming = [], False
    for path in source_files:
        tree, src = parse(path)
        found += [(path, *c) for c in classes(tree, src)]
        for use in uses(path, tree, src):
            if use.kind in ("method", "call") and use.name == "withTransport" and "streaming" in use.labels:
                streaming = True
    problems = []
    for proto in REQUIRED_CONFORMANCES:
        if proto not in protos:
            problems.append(f"the generated bindings declare no protocol {proto}: update REQUIRED_CONFORMANCES to the new FFI name")
            continue
        implementers = [c for c in found if proto in c[3]]
        if not implementers:
            problems.append(f"no class in ios/Sources implements {proto}: the phone build (no TLS of its own) needs it")
        for path, cls, line, _, methods in implementers:
            for fname, params in protos[proto]:
                labels = tuple(label for label, _ in params)
                if not any(tuple(label for label, _ in p) == labels for p in methods.get(fname, [])):
                    problems.append(f"{path}:{line}: {cls} implements {proto} without {signature(fname, params)}")
    if not streaming:
        problems.append("no withTransport(…, streaming: …) in ios/Sources: listen would not go through URLSession")
    return problems


def platform_names():
    names = set()
    for line in PLATFORM_NAMES.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line)
    return names


def ios_sources(ios_dir):
    out = []
    for sub in ("Sources", "Sample"):
        for path in sorted((ios_dir / sub).rglob("*.swift")):
            if "Generated" not in path.parts:
                out.append(path)
    return out


def run(generated, ios_dir):
    files = ios_sources(ios_dir)
    problems, checked = check([generated], files, platform_names())
    problems += conformance_problems([generated], [f for f in files if "Sources" in f.relative_to(ios_dir).parts[:1]])
    categories = ios_dir / "Sources" / "Tapprove" / "NotificationCategories.swift"
    uv = uv_categories.problems(categories.read_text(encoding="utf-8"))
    for p in uv:
        print(f"{categories}: {p}")
    if uv:
        print("swift_api_check: the notification categories do not honour user verification")
        return 1
    for p in problems:
        print(p)
    if problems:
        print(
            f"swift_api_check: {len(problems)} use(s) of the bindings that the generated Swift does not declare. "
            "Fix the Swift shell to the new FFI names; if a name is Apple's or Swift's, add it to "
            f"{PLATFORM_NAMES.name}."
        )
        return 1
    print(f"swift_api_check: {len(files)} files, {checked} uses of the generated API, all declared")
    return 0


def cancel_self_test():
    """An async call of the bindings without its CancelToken is reported; with one it passes."""
    import tempfile
    generated = "public class Authenticator {\n    open func respond(requestId: String, decision: Decision, cancel: CancelToken? = nil) async throws -> RespondOutcome { fatalError() }\n}\npublic class CancelToken {}\npublic enum Decision {}\npublic struct RespondOutcome {}\npublic func sdkVersion() -> String { fatalError() }\n"
    without = "func f(a: Authenticator) async throws { _ = try await a.respond(requestId: \"x\", decision: d) }\n"
    with_token = "func f(a: Authenticator, t: CancelToken) async throws { _ = try await a.respond(requestId: \"x\", decision: d, cancel: t) }\n"
    failures = []
    with tempfile.TemporaryDirectory() as d:
        gen, app, ok = Path(d, "gen.swift"), Path(d, "app.swift"), Path(d, "ok.swift")
        gen.write_text(generated)
        app.write_text(without)
        ok.write_text(with_token)
        missing, _ = check([gen], [app], {"fatalError", "d"})
        if not any("without cancel:" in m for m in missing):
            failures.append(f"a respond(…) without cancel: was not caught ({missing})")
        fine, _ = check([gen], [ok], {"fatalError", "d"})
        if any("without cancel:" in m for m in fine):
            failures.append(f"a respond(…) with cancel: was refused ({fine})")
    return failures


def conformance_self_test():
    """The real ios/Sources pass; without the streaming transport, with a renamed `read()` or
    without `streaming:` in configure they fail."""
    import tempfile
    generated = (
        "public protocol HttpTransport: AnyObject { func send(request: HttpRequest) throws -> HttpResponse }\n"
        "public protocol HttpStreamTransport: AnyObject { func openStream(request: HttpRequest) throws -> HttpBodyStream }\n"
        "public protocol HttpBodyStream: AnyObject {\n    func status() throws -> UInt16\n    func headers() throws -> [HttpHeader]\n"
        "    func read() throws -> Data?\n    func cancel() throws\n}\n"
    )
    sources = HERE.parent / "Sources" / "Tapprove"
    stream = sources / "URLSessionStreamTransport.swift"
    sdk = sources / "TapproveSDK.swift"
    real = sorted(p for p in sources.rglob("*.swift") if "Generated" not in p.parts)
    failures = []
    with tempfile.TemporaryDirectory() as d:
        gen = Path(d, "gen.swift")
        gen.write_text(generated)

        def mutated(original, old, new):
            text_ = original.read_text(encoding="utf-8")
            if old not in text_:
                failures.append(f"{original.name} no longer contains {old!r}: update the self-test")
            out = Path(d, original.name)
            out.write_text(text_.replace(old, new), encoding="utf-8")
            return [out if p == original else p for p in real]

        ok = conformance_problems([gen], real)
        if ok:
            failures.append(f"the real ios/Sources were refused: {ok}")
        cases = [
            ([p for p in real if p != stream], "no class in ios/Sources implements HttpStreamTransport"),
            (mutated(stream, "func read()", "func readPiece()"), "without read()"),
            (mutated(sdk, "streaming:", "other:"), "no withTransport(…, streaming: …)"),
        ]
        for files, want in cases:
            got = conformance_problems([gen], files)
            if not any(want in g for g in got):
                failures.append(f"not caught: {want!r} (reported: {got})")
    return failures


def self_test(fixtures):
    """The fixture app uses describeEnrollmentUri(uri:) and Authenticator.respond(requestId:decision:);
    the user-verification rule is tried on mutations of the real NotificationCategories.swift."""
    app = [fixtures / "App.swift"]
    ok, _ = check([fixtures / "generated_ok.swift"], app, set())
    renamed, _ = check([fixtures / "generated_renamed.swift"], app, set())
    failures = []
    if ok:
        failures.append(f"the matching bindings were refused: {ok}")
    want = ["describeEnrollmentUri(…) is not in the generated bindings", "respond(requestId:decision:) does not match",
            "type EnrollmentInfo is not in the generated bindings", ".presenceMode is not in the generated bindings"]
    for w in want:
        if not any(w in r for r in renamed):
            failures.append(f"not caught: {w!r} (reported: {renamed})")
    failures += uv_categories.self_test(HERE.parent / "Sources" / "Tapprove" / "NotificationCategories.swift")
    failures += cancel_self_test()
    failures += conformance_self_test()
    for f in failures:
        print("swift_api_check self-test:", f)
    if failures:
        return 1
    print(f"swift_api_check self-test: renamed function, type, member and argument label all caught ({len(renamed)} reports); "
          "a verify category without .foreground, a category(for:) that ignores userVerification, an async call without its CancelToken "
          "and a missing or incomplete streaming transport caught")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        sys.exit(self_test(Path(sys.argv[2])))
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(run(Path(sys.argv[1]), Path(sys.argv[2])))
