"""kbs config upgrade helper: runs inside a sandbox, never on the host.

Reads a complete .config of another revision on stdin, loads it into this revision's
Kconfig (the tree's own Kconfiglib) as olddefconfig does, and prints JSON:
  {config, new: [{symbol, value, prompt}], removed: [{symbol, value}], changed: [{symbol, from, to}]}
new: symbols this tree writes that the old config did not have; removed: symbols of the
old config this tree no longer defines; changed: symbols in both whose value differs.
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kconfig_helper import extract, load_kconfiglib  # noqa: E402


def values(text, prefix):
    out = {}
    set_re = re.compile("^" + re.escape(prefix) + r"([A-Za-z0-9_]+)=(.*)$")
    unset_re = re.compile("^# " + re.escape(prefix) + r"([A-Za-z0-9_]+) is not set$")
    for line in text.splitlines():
        m = set_re.match(line)
        if m:
            v = m.group(2)
            out[m.group(1)] = v[1:-1] if len(v) >= 2 and v[0] == '"' and v[-1] == '"' else v
            continue
        m = unset_re.match(line)
        if m:
            out[m.group(1)] = "n"
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("op", choices=["upgrade"])
    p.add_argument("--entry", required=True)
    p.add_argument("--bundle", action="append", required=True)
    a = p.parse_args()
    root = os.getcwd()
    for bundle in a.bundle:
        extract(bundle, root)
    os.environ.setdefault("srctree", root)
    old_text = sys.stdin.read()
    with open(".kbs-old.config", "w") as f:
        f.write(old_text)
    kconfiglib = load_kconfiglib(root)
    kconf = kconfiglib.Kconfig(a.entry, warn=False)
    kconf.load_config(".kbs-old.config")
    kconf.write_config("out.config", header="")
    with open("out.config") as f:
        new_text = f.read()
    prefix = kconf.config_prefix
    old, new = values(old_text, prefix), values(new_text, prefix)

    def prompt(name):
        sym = kconf.syms.get(name)
        for node in sym.nodes if sym else []:
            if node.prompt:
                return node.prompt[0]
        return None

    json.dump(
        {
            "config": new_text,
            "new": [{"symbol": s, "value": new[s], "prompt": prompt(s)} for s in sorted(new) if s not in old],
            "removed": [{"symbol": s, "value": old[s]} for s in sorted(old) if s not in new],
            "changed": [{"symbol": s, "from": old[s], "to": new[s]} for s in sorted(old) if s in new and old[s] != new[s]],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
