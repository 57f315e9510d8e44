#!/usr/bin/env python3
"""Fails when the modules of one crate import each other in a circle (`make lint`).

Cargo already refuses a cycle between crates; inside a crate the compiler allows any. This
check keeps the rule of docs/development.md for modules too: no import cycle spans more than a
module and its own children. It reads each crate's non-test code (before its first
`#[cfg(test)]`), follows `crate::a::b` and `super::x` paths to the top-level module they name,
and looks for strongly connected components among the top-level modules (the crate root, the
parent of every module, is left out). Usage: `scripts/module_cycles.py [REPO_ROOT]`.
"""
import glob
import os
import re
import sys


def module_name(src, path):
    rel = os.path.relpath(path, src)[:-3]
    if rel in ("lib", "main"):
        return ""
    return rel.replace("/mod", "").replace("/", "::")


def edges_of(src):
    files = [p for p in glob.glob(os.path.join(src, "**", "*.rs"), recursive=True) if "/bin/" not in p]
    mods = {module_name(src, p): p for p in files}
    edges = {}
    for m, p in mods.items():
        with open(p, encoding="utf-8") as f:
            code = f.read().split("#[cfg(test)]")[0]
        code = "\n".join(l for l in code.split("\n") if not l.strip().startswith("//"))
        targets = set()
        for r in re.findall(r"\bcrate::([a-z_0-9]+(?:::[a-z_0-9]+)*)", code):
            parts = r.split("::")
            for k in range(len(parts), 0, -1):
                if "::".join(parts[:k]) in mods:
                    targets.add("::".join(parts[:k]))
                    break
        parent = "::".join(m.split("::")[:-1]) if m else None
        for r in re.findall(r"\bsuper::([a-z_0-9]+)", code):
            base = parent if parent is not None else ""
            t = f"{base}::{r}" if base else r
            targets.add(t if t in mods else base)
        top = m.split("::")[0]
        for t in targets:
            tt = t.split("::")[0]
            if top and tt and tt != top:
                edges.setdefault(top, set()).add(tt)
    return edges


def cycles(graph):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    srcs = sorted(glob.glob(os.path.join(root, "crates", "*", "src"))) + [
        os.path.join(root, "core", "src"),
        os.path.join(root, "src"),
    ]
    bad = 0
    for src in srcs:
        for comp in cycles(edges_of(src)):
            print(f"{os.path.relpath(src, root)}: modules import each other in a circle: {' -> '.join(comp)}")
            bad += 1
    if bad:
        sys.exit(1)
    print(f"module_cycles: no cycle among the modules of {len(srcs)} crates")


if __name__ == "__main__":
    main()
