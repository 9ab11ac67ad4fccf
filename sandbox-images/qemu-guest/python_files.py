"""List the host files the qemu guest needs to run the warm stub, Kconfiglib,
menuconfig and compileall with the system Python: every module they import, every single-file stdlib
module, the encodings package and all of python3-kconfiglib (each with its cached .pyc). Run on the host by kbs; argv[1]
is the warm stub's directory."""

import importlib.util
import json
import os
import subprocess
import sys

sys.path.insert(0, sys.argv[1])
import warm_stub  # noqa: E402,F401  (its imports are what a session needs)
import compileall  # noqa: E402,F401  (a tree's Kconfiglib is byte-compiled in a one-shot guest)
import curses.ascii  # noqa: E402,F401
import locale  # noqa: E402,F401
import pkgutil  # noqa: E402,F401
import textwrap  # noqa: E402,F401

files = {f for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))}
files.discard(os.path.abspath(os.path.join(sys.argv[1], "warm_stub.py")))
stdlib = os.path.dirname(os.__file__)
# Every single-file stdlib module (tools import argparse, gettext, difflib, ... lazily)
# and the whole encodings package; packages beyond those the stub imports are left out.
files.update(os.path.join(stdlib, n) for n in os.listdir(stdlib) if n.endswith(".py"))
enc = os.path.join(stdlib, "encodings")
files.update(os.path.join(enc, n) for n in os.listdir(enc) if n.endswith(".py"))
dpkg = subprocess.run(["dpkg", "-L", "python3-kconfiglib"], capture_output=True, text=True).stdout.split()
files.update(f for f in dpkg if f.endswith(".py"))
out = set(files)
for f in files:
    if f.endswith(".py"):
        cached = importlib.util.cache_from_source(f)
        if os.path.exists(cached):
            out.add(cached)
print(json.dumps(sorted(out)))
