#!/usr/bin/env python3
"""The crate's public surface, counted from rustdoc's JSON output.

Usage: scripts/surface.py [--list] DOC_JSON
(build it with: cargo +nightly rustdoc --lib --features redis,axum,metrics,jwks
 -- -Z unstable-options --output-format json)

Counts what a user can name: types (structs, enums, traits, type aliases),
public functions (free functions, inherent methods and associated
functions; trait impls are not counted, trait declarations' own methods are),
constants, and the crate root's re-exports. An item reachable by two paths is
counted once; `paths` says how many paths there are in all.
"""

import json
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
doc = json.load(open(args[0]))
index = doc["index"]
item = lambda i: index.get(str(i))

types, functions, consts, modules = set(), set(), set(), set()
paths = []
seen_modules = set()


def kind(it):
    return next(iter(it["inner"]))


def add_impls(it_id, prefix):
    it = item(it_id)
    inner = it["inner"][kind(it)]
    for impl_id in inner.get("impls", []):
        impl = item(impl_id)
        if impl is None:
            continue
        body = impl["inner"]["impl"]
        if body.get("trait") is not None or body.get("is_synthetic") or body.get("blanket_impl"):
            continue
        for f in body["items"]:
            fi = item(f)
            if fi and fi["visibility"] == "public" and kind(fi) in ("function", "assoc_const"):
                if kind(fi) == "function":
                    if f not in functions:
                        functions.add(f)
                        paths.append(prefix + "::" + fi["name"] + "()")
                else:
                    consts.add(f)


def walk(mod_id, prefix):
    if mod_id in seen_modules:
        return
    seen_modules.add(mod_id)
    modules.add(mod_id)
    for i in item(mod_id)["inner"]["module"]["items"]:
        it = item(i)
        if it is None or it["visibility"] != "public":
            continue
        k = kind(it)
        target, name = i, it["name"]
        if k == "use":
            u = it["inner"]["use"]
            target, name = u["id"], u["name"]
            if target is None or item(target) is None:
                continue
            if u.get("is_glob"):
                continue
            it = item(target)
            k = kind(it)
        path = prefix + "::" + name
        if k == "module":
            walk(target, path)
        elif k in ("struct", "enum", "trait", "type_alias", "union"):
            paths.append(path)
            if target not in types:
                types.add(target)
                if k == "trait":
                    for f in it["inner"]["trait"]["items"]:
                        if kind(item(f)) == "function":
                            functions.add(f)
                else:
                    add_impls(target, path)
        elif k == "function":
            paths.append(path + "()")
            functions.add(target)
        elif k in ("constant", "static"):
            paths.append(path)
            consts.add(target)
        elif k == "macro":
            paths.append(path + "!")


root = doc["root"]
root_items = [
    i for i in item(root)["inner"]["module"]["items"]
    if item(i) and item(i)["visibility"] == "public" and kind(item(i)) == "use"
]
walk(root, "crate")
print(f"public types: {len(types)}")
print(f"public functions and methods: {len(functions)}")
print(f"public constants: {len(consts)}")
print(f"public modules: {len(modules) - 1}")
print(f"root re-exports: {len(root_items)}")
print(f"paths to types, functions and constants: {len(paths)}")
if "--list" in sys.argv:
    for p in sorted(paths):
        print("  " + p)
