#!/usr/bin/env python3
"""The crate's module graph: which file imports from which, cycles, and
imports that go through the crate root's re-exports.

Usage: scripts/module-graph.py [SRC_DIR]   (default: src)

Every `crate::...`, `super::...` and `self::...` path outside test modules is
resolved to the file that defines the name it ends in (following `pub use`
re-exports), so a cycle hidden behind a re-export still shows. Prints the
number of files, edges, imports through the root, and every strongly
connected component of more than one file (a cycle), at file level and at
the level of the crate's top-level modules.
"""

import os
import re
import sys

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
SRC = ARGS[0] if ARGS else "src"

ITEM = re.compile(
    r"^(?:pub(?:\([a-z: ]+\))?\s+)?(?:async\s+)?(?:const\s+fn\s+|unsafe\s+)?"
    r"(struct|enum|trait|type|fn|const|static|macro_rules!|union)\s+([A-Za-z_][A-Za-z0-9_]*)"
)
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([a-z: ]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;")
PUB_USE = re.compile(r"^\s*pub(?:\([a-z: ]+\))?\s+use\s+([^;]+);", re.S | re.M)
USE = re.compile(r"\buse\s+((?:crate|super|self)\b[^;]*);", re.S)
INLINE = re.compile(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip_tests(text):
    """Drop `#[cfg(test)] mod name { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        return parts

    def go(prefix, s):
        i = s.find("{")
        if i < 0:
            return [prefix + s]
        head, body = s[:i], s[i + 1 : s.rfind("}")]
        res = []
        for p in split_top(body):
            res += go(prefix + head, p)
        return res

    return go("", tree)


files = {}
for root, _, names in os.walk(SRC):
    for n in names:
        if n.endswith(".rs"):
            p = os.path.join(root, n)
            files[module_of(p)] = p

raw = {m: open(p).read() for m, p in files.items()}
text = {m: strip_tests(t) for m, t in raw.items()}
# Alias forms ("X as Y") are rewritten to X before parsing.
text = {m: re.sub(r"\b([A-Za-z_][A-Za-z0-9_]*)\s+as\s+[A-Za-z_][A-Za-z0-9_]*", r"\1", t) for m, t in text.items()}

defs = {m: set() for m in files}
for m, t in text.items():
    for line in t.splitlines():
        d = ITEM.match(line)
        if d:
            defs[m].add(d.group(2))

reexports = {m: {} for m in files}  # name -> absolute path list
for m, t in text.items():
    for u in PUB_USE.finditer(t):
        for p in expand(u.group(1)):
            name = p.rsplit("::", 1)[-1]
            reexports[m][name] = p


def absolute(m, path):
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] == "self":
        base, segs = m, segs[1:]
    elif segs[0] == "super":
        base = m
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    else:
        # a path relative to m (as in `pub use claims::X` inside jwt/mod.rs)
        base = m
    return base, segs


def resolve(m, path, depth=0):
    """The file module that defines what `path` (seen from m) names."""
    base, segs = absolute(m, path)
    cur = base
    for i, s in enumerate(segs):
        if cur + (s,) in files:
            cur = cur + (s,)
            continue
        # s is an item of cur (or re-exported by it)
        if s in defs.get(cur, ()):
            return cur
        if depth < 8 and s in reexports.get(cur, {}):
            return resolve(cur, reexports[cur][s], depth + 1)
        return cur
    return cur


edges = {}
through_root = []
for m, t in text.items():
    if m == ():
        continue
    found = set()
    facade = set()  # a module's re-exports of its own descendants
    for u in USE.finditer(t):
        public = re.search(r"pub(?:\([a-z: ]+\))?\s+$", t[max(0, u.start() - 16) : u.start()])
        for p in expand(u.group(1)):
            found.add(p)
            if public:
                facade.add(p)
    for p in INLINE.findall(t):
        found.add(p)
    for p in found:
        segs = p.split("::")
        if segs[0] == "crate" and len(segs) == 2 and segs[1] not in ("self",) and () + (segs[1],) not in files:
            through_root.append((m, p))
        target = resolve(m, p)
        if p in facade and target[: len(m)] == m:
            continue  # a facade re-exporting its own child points down
        if target != m and target != () and not (m[: len(target)] == target and len(target) < len(m) and target not in files):
            edges.setdefault(m, set()).add(target)


def name(m):
    return "/".join(m) or "lib"


def sccs(nodes, adj):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in adj.get(v, ()):
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
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            strong(v)
    return out


# A file's module may use its own parent facade (mod.rs) only for what the
# parent defines; parent -> child edges are declarations, not imports.
file_nodes = [m for m in files if m != ()]
file_cycles = sccs(file_nodes, edges)

top = {}
for a, bs in edges.items():
    for b in bs:
        if a[:1] != b[:1]:
            top.setdefault(a[:1], set()).add(b[:1])
top_cycles = sccs(sorted({m[:1] for m in file_nodes}), top)

print(f"files: {len(file_nodes)}")
print(f"file-level import edges: {sum(len(v) for v in edges.values())}")
print(f"imports through the crate root (crate::Name for a name defined elsewhere): {len(through_root)}")
for m, p in sorted(through_root):
    print(f"  {name(m)}: {p}")
print(f"file-level cycles: {len(file_cycles)}")
for c in file_cycles:
    print("  " + " <-> ".join(name(m) for m in c))
print(f"top-level module cycles: {len(top_cycles)}")
for c in top_cycles:
    print("  " + " <-> ".join(name(m) for m in c))
if "--edges" in sys.argv:
    for c in file_cycles:
        members = set(c)
        print("edges within: " + ", ".join(name(m) for m in c))
        for a in c:
            for b in sorted(edges.get(a, ())):
                if b in members:
                    print(f"  {name(a)} -> {name(b)}")
if "--top-edges" in sys.argv:
    for a, bs in sorted(edges.items()):
        for b in sorted(bs):
            if a[:1] != b[:1] and a[:1] in {m for c in top_cycles for m in c}:
                back = any(x[:1] == b[:1] and a[:1] in {y[:1] for y in ys} for x, ys in edges.items())
                if back:
                    print(f"  {name(a)} -> {name(b)}")
