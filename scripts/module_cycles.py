#!/usr/bin/env python3
"""List import cycles between the modules of one crate (default: api-server).

A module is a file under src/ (foo.rs, foo/mod.rs, or foo/bar.rs -> foo::bar). Tests (`*_tests.rs`,
`tests.rs`, test helpers, inline `mod tests`) are left out: they are not the product's imports. An edge A -> B is any
`crate::B...` path (or `super::`-relative path) written in A's code (comments do not count). Cycles are the strongly connected
components with more than one module. Usage: scripts/module_cycles.py [--top] [crate-src-dir]
"""
import os
import re
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
TOP = "--top" in sys.argv  # collapse every module to its top-level folder (front, wire, ...)
src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "api-server", "src")
src = os.path.normpath(src)

mods = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
        if rel[-1] == "mod":
            rel = rel[:-1]
        if rel in (["lib"], ["main"]):
            continue
        mods["::".join(rel)] = os.path.join(root, f)

names = set(mods)


def owner(path):
    """The longest module name that is a prefix of a crate path (a::b::Item -> a::b)."""
    parts = path.split("::")
    for n in range(len(parts), 0, -1):
        cand = "::".join(parts[:n])
        if cand in names:
            return cand
    return None


def is_test(name):
    last = name.split("::")[-1]
    return last == "tests" or last.endswith("_tests") or last in ("test_support", "flotilla_tests")


def node(name):
    """Tests belong to the module they test; nested files are nodes of their own (--top: not)."""
    if TOP:
        return name.split("::")[0]
    if is_test(name):
        parts = name.split("::")
        last = parts[-1]
        if last == "tests":
            return "::".join(parts[:-1]) or name
        if last.endswith("_tests"):
            base = "::".join(parts[:-1] + [last[: -len("_tests")]])
            if base in names:
                return base
    return name


edges = {}
path_re = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
group_re = re.compile(r"\buse\s+(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)
for name, file in mods.items():
    if is_test(name):
        continue  # test files and helpers: dependencies of tests, not of the product
    # Doc and line comments link modules without depending on them.
    text = re.sub(r"//[^\n]*", "", open(file).read())
    # An inline `#[cfg(test)] mod tests { ... }` sits at the end of its file.
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests \{", text)[0]
    # Skip `#[cfg(test)] mod tests { ... }` contents only roughly: test-only imports inside a
    # `mod tests` block count too, which is fine: they are still imports of this file.
    here = name.split("::")
    if os.path.basename(file) not in ("mod.rs",) and not os.path.isdir(file[:-3]):
        parent = here[:-1]
    else:
        parent = here[:-1]
    targets = []

    def resolve(kind, rest):
        rest = rest.lstrip(":")
        if kind == "crate":
            return rest
        # super:: relative to this module's parent (file module semantics)
        return "::".join(parent + ([rest] if rest else []))

    for m in group_re.finditer(text):
        base = resolve(m.group(1), m.group(2))
        for item in re.split(r",", re.sub(r"\{[^}]*\}", "", m.group(3))):
            item = item.strip().split(" as ")[0].strip()
            if item and item != "self":
                targets.append(base + "::" + item if base else item)
            elif item == "self":
                targets.append(base)
        # nested groups: take their prefix
        for inner in re.finditer(r"([A-Za-z_][A-Za-z0-9_:]*)::\{", m.group(3)):
            targets.append(base + "::" + inner.group(1) if base else inner.group(1))
    for m in path_re.finditer(text):
        targets.append(resolve(m.group(1), m.group(2)))
    me = node(name)
    for t in targets:
        o = owner(t)
        if o is None:
            continue
        o = node(o)
        # a module importing its own children or parent's items is not an edge between peers
        if o == me or o.startswith(me + "::") or me.startswith(o + "::"):
            continue
        edges.setdefault(me, set()).add(o)

# Tarjan's SCC
index, low, stack, on, sccs = {}, {}, [], set(), []
counter = [0]
sys.setrecursionlimit(10000)


def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in sorted(edges.get(v, ())):
        if w not in index:
            strong(w)
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
            sccs.append(sorted(comp))


for v in sorted({node(n) for n in names}):
    if v not in index:
        strong(v)

# Report each 2-cycle explicitly, and each larger component as a whole.
pairs = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())})
for a, b in pairs:
    print(f"pair: {a} <-> {b}")
for comp in sccs:
    print(f"cycle ({len(comp)} modules): {' '.join(comp)}")
print(f"{len(pairs)} two-module cycles, {len(sccs)} strongly connected components")
