#!/usr/bin/env bash
# Checks the MSRV stated in Cargo.toml (`rust-version`) without an old
# toolchain: (1) no dependency in the lockfile, with every feature on,
# declares a newer rust-version; (2) clippy's `incompatible_msrv` lint (on in
# `cargo clippy`) finds no std API newer than it in this crate's code. What
# it cannot see: language features newer than the MSRV (edition 2021 keeps
# the newest ones out) and dependencies that under-declare.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --all-features --locked | python3 -c '
import json, sys
d = json.load(sys.stdin)
nodes = {n["id"]: n for n in d["resolve"]["nodes"]}
pkgs = {p["id"]: p for p in d["packages"]}
root = d["resolve"]["root"]
ver = lambda s: tuple(int(x) for x in s.split(".")) + (0,) * (3 - len(s.split(".")))
msrv = pkgs[root]["rust_version"]
seen, stack = set(), [root]
while stack:
    i = stack.pop()
    if i in seen:
        continue
    seen.add(i)
    for dep in nodes[i]["deps"]:
        if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
            stack.append(dep["pkg"])
newer = sorted((pkgs[i]["name"], pkgs[i]["version"], pkgs[i]["rust_version"]) for i in seen
               if pkgs[i].get("rust_version") and ver(pkgs[i]["rust_version"]) > ver(msrv))
if newer:
    sys.exit(f"rust-version {msrv} is too old for: " + ", ".join(f"{n} {v} (needs {r})" for n, v, r in newer))
print(f"MSRV {msrv}: {len(seen) - 1} dependencies declare it or older")
'
cargo clippy --quiet --all-features -- -D clippy::incompatible_msrv
echo "MSRV: no std API newer than the stated rust-version"
