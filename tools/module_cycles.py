"""Print the import circles among ferrosock's Rust files; exit 1 if there is one.

A file A depends on file B when A names an item B defines through `crate::...` or
`super::...`, or (a parent `mod.rs`/`lib.rs`) through a child's name, `child::item`: a parent
and its children count as separate files, so a child that uses its parent's items while the
parent uses the child's is a circle too. `#[cfg(test)]` modules are left out: tests may reach
anywhere. Run from the repository root:
`python tools/module_cycles.py` (or pass the root).
"""

from __future__ import annotations

import pathlib
import re
import sys

PATH = re.compile(r"\b(crate|super)::((?:[A-Za-z_0-9]+::)*)(?:\{([^}]*)\}|([A-Za-z_0-9]+))")
TESTS = re.compile(r"#\[cfg\(test\)\]\s*mod \w+\s*\{")


def module_name(src: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return "::".join(parts)


def without_tests(text: str) -> str:
    while match := TESTS.search(text):
        i, depth = match.end(), 1
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: match.start()] + text[i:]
    return text


def dependencies(src: pathlib.Path) -> dict[str, set[str]]:
    files = {module_name(src, p): p for p in src.rglob("*.rs")}
    edges: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        parent = module.rsplit("::", 1)[0] if "::" in module else ""
        for match in PATH.finditer(without_tests(path.read_text())):
            base = match.group(2).rstrip(":")
            if match.group(1) == "super":
                base = "::".join(x for x in (parent, base) if x)
            group = match.group(3)
            leaves = (
                [x.strip().split("::")[0] for x in group.split(",")] if group else [match.group(4)]
            )
            for leaf in filter(None, leaves):
                full = f"{base}::{leaf}" if base else leaf
                target = full if full in files else base
                if target in files and target != module:
                    edges[module].add(target)
    for module, path in files.items():
        text = without_tests(path.read_text())
        for child in files:
            if child and parent_of(child) == module:
                leaf = child.rsplit("::", 1)[-1]
                if re.search(rf"(?<![:\w]){leaf}::", text):
                    edges[module].add(child)
    return edges


def parent_of(module: str) -> str:
    return module.rsplit("::", 1)[0] if "::" in module else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one file (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    edges = dependencies(root / "src")
    found = cycles(edges)
    for component in found:
        print("circle:", " <-> ".join(m or "lib" for m in component))
        for module in component:
            print(f"    {module or 'lib'} uses {sorted(edges[module] & set(component))}")
    if not found:
        print(f"no import circles among {len(edges)} files")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
