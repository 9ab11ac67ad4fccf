"""kbs Kconfig helper: runs inside a sandbox, never on the host.

Extracts the kconfig bundle (and the tree's built Kconfig tools) into the working directory,
reads a .config on stdin and prints the result of one operation on stdout:

  olddefconfig   the complete config (every symbol, defaults filled in)
  savedefconfig  the minimal config (only what differs from the defaults)
  changed        JSON [{symbol, value, default}] of the symbols whose value
                 differs from their default

With --conf PATH (the mconf frontend), olddefconfig and savedefconfig run that
Kconfig `conf` program instead of Kconfiglib, so they match the tree's own tools.
With --make-var VAR (a tree whose Makefile sets its tools' environment: Buildroot),
they are the tree's own `make olddefconfig VAR=<config>` and the recipe's savedefconfig
command (--savedefconfig ARGV-JSON, writing --savedefconfig-output); `changed` runs
`make olddefconfig` first too, for the files the Makefile generates for Kconfig.
Kconfiglib comes from the tree's lib/kconfiglib when it has one, else the system.
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile


def extract(bundle, dest):
    """Extract regular files and directories only: no links, devices, absolute paths or '..'."""
    with tarfile.open(bundle) as tar:
        for m in tar:
            name = os.path.normpath(m.name)
            if name.startswith("/") or name == ".." or name.startswith("../"):
                continue
            target = os.path.join(dest, name)
            if m.isdir():
                os.makedirs(target, exist_ok=True)
            elif m.isfile():
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                src = tar.extractfile(m)
                with open(target, "wb") as out:
                    out.write(src.read())
                os.chmod(target, 0o755 if m.mode & 0o111 else 0o644)


def load_kconfiglib(root):
    own = os.path.join(root, "lib", "kconfiglib")
    if os.path.isfile(os.path.join(own, "kconfiglib.py")):
        sys.path.insert(0, own)
    else:
        sys.path.insert(0, "/usr/lib/python3/dist-packages")
    import kconfiglib

    return kconfiglib


def run_conf(conf, mode, entry, config_path):
    args = [conf, "--" + mode]
    if mode == "savedefconfig":
        args = [conf, "--savedefconfig", "defconfig.out"]
    subprocess.run(args + [entry], check=True, stdout=sys.stderr, env=dict(os.environ, KCONFIG_CONFIG=config_path))
    with open("defconfig.out" if mode == "savedefconfig" else config_path) as f:
        return f.read()


def run_make(argv, var, config_path):
    subprocess.run(argv + ["%s=%s" % (var, config_path)], check=True, stdout=sys.stderr)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("op", choices=["olddefconfig", "savedefconfig", "changed"])
    p.add_argument("--entry", required=True)
    p.add_argument("--bundle", action="append", required=True, help="tars extracted in order (the tree, then its built tools)")
    p.add_argument("--conf")
    p.add_argument("--make-var")
    p.add_argument("--savedefconfig", help="JSON argv of the tree's savedefconfig (with --make-var)")
    p.add_argument("--savedefconfig-output")
    a = p.parse_args()

    root = os.getcwd()
    for bundle in a.bundle:
        extract(bundle, root)
    config_path = os.path.join(root, ".kbs-input.config")
    with open(config_path, "w") as f:
        f.write(sys.stdin.read())
    os.environ.setdefault("srctree", root)

    if a.make_var:
        run_make(["make", "-s", "olddefconfig"], a.make_var, config_path)
        if a.op == "olddefconfig":
            with open(config_path) as f:
                sys.stdout.write(f.read())
            return
        if a.op == "savedefconfig":
            run_make(json.loads(a.savedefconfig), a.make_var, config_path)
            with open(a.savedefconfig_output) as f:
                sys.stdout.write(f.read())
            return
    elif a.conf and a.op != "changed":
        sys.stdout.write(run_conf(a.conf, a.op, a.entry, config_path))
        return

    kconfiglib = load_kconfiglib(root)
    kconf = kconfiglib.Kconfig(a.entry, warn_to_stderr=True)
    kconf.load_config(config_path)
    if a.op == "olddefconfig":
        # The header the tree's own olddefconfig writes (Kconfiglib's default), so the output is that file.
        kconf.write_config("out.config")
        with open("out.config") as f:
            sys.stdout.write(f.read())
    elif a.op == "savedefconfig":
        kconf.write_min_config("out.defconfig", header="")
        with open("out.defconfig") as f:
            sys.stdout.write(f.read())
    else:
        syms = [s for s in kconf.unique_defined_syms if s.type != kconfiglib.UNKNOWN]
        values = {s.name: s.str_value for s in syms}
        kconf.unset_values()
        out = [
            {"symbol": s.name, "value": values[s.name], "default": s.str_value}
            for s in syms
            if values[s.name] != s.str_value
        ]
        json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
