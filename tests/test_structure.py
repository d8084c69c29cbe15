"""The shape of the package: no import circle, no room too big to hold in
mind, no module reaching into another's private names (issue 22).

The import graph is read from the sources with ``ast``, every import
counted: at the top of a module or inside a function (a lazy import still
ties the two modules). ``from package import name`` points at the module
``package.name`` when there is one, else at the package's ``__init__``.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fastnn"
MAX_LINES = 700


def modules():
    """{dotted name: (path, is a package's __init__)} of every module of fastnn."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def imports(name, path, is_package, known):
    """(imported module, names taken from it, line) of every import in the
    module ``name`` that points into fastnn."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    yield f"{base}.{alias.name}", [], node.lineno
                elif base in known:
                    yield base, [alias.name], node.lineno


def graph():
    known = modules()
    edges = {name: {} for name in known}
    for name, (path, is_package) in known.items():
        for target, names, line in imports(name, path, is_package, known):
            if target != name:
                edges[name].setdefault(target, []).append((line, names))
    return edges


def cycles(edges):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    edges = graph()
    found = cycles(edges)
    described = []
    for component in found:
        ties = [f"{a} -> {b} (line {edges[a][b][0][0]})" for a in component for b in edges[a]
                if b in component]
        described.append("; ".join(ties))
    assert found == [], "import circles: " + " | ".join(described)


def test_the_cycle_finder_sees_a_lazy_import_closing_a_circle(tmp_path):
    """The test above can fail: an import inside a function is an edge, and
    two modules importing each other are a circle."""
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f():\n    from . import network\n    return network\n")
    found = [target for target, _, _ in imports("fastnn.lazy", lazy, False, modules())]
    assert found == ["fastnn.network"]
    edges = {"fastnn.a": {"fastnn.b": [(1, [])]}, "fastnn.b": {"fastnn.a": [(9, [])]},
             "fastnn.c": {"fastnn.a": [(2, [])]}}
    assert cycles(edges) == [["fastnn.a", "fastnn.b"]]


def test_no_file_of_the_package_is_over_700_lines():
    long = {str(path.relative_to(PACKAGE.parent)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these along their jobs (at most {MAX_LINES} lines each): {long}"


# (source module, name) pairs kept on purpose, each with its reason.
KEPT_PRIVATE_IMPORTS = set()


def test_no_module_imports_another_modules_private_names():
    edges = graph()
    taken = sorted(f"{source} takes {name} from {target} (line {line})"
                   for source, targets in edges.items() for target, uses in targets.items()
                   for line, names in uses for name in names
                   if name.startswith("_") and not name.startswith("__")
                   and (source, name) not in KEPT_PRIVATE_IMPORTS)
    assert taken == []


def test_no_module_reads_a_private_attribute_of_another_fastnn_module():
    """``module._name`` where ``module`` is a fastnn module imported by name."""
    known = modules()
    found = []
    for name, (path, is_package) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = (".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                 + ([node.module] if node.module else []))
                        if node.level else node.module or "")
                for alias in node.names:
                    if f"{base}.{alias.name}" in known:
                        aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and aliases[node.value.id] != name):
                found.append(f"{name}:{node.lineno} {node.value.id}.{node.attr}")
    assert found == []
