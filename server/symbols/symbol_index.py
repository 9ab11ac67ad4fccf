"""kbs symbol index: runs inside a sandbox, never on the host (parsing a tree runs its
Kconfig preprocessor's $(shell,...) and, for trees that ship one, its own Kconfiglib).

  index   print the tree's symbol index as JSON: per symbol its type, prompts, help,
          definition sites, dependencies, select/imply both ways, defaults, ranges,
          menu path, choice and visibility. A tree that does not parse prints
          {"error": ...}: the host records it like an index.
  values  read a .config on stdin; print per symbol its value there and why it has
          it (set by the user, i.e. in the minimal form; selected; implied; invisible;
          the default), and whether the symbol is written to the config at all.

Kconfiglib comes from the tree's lib/kconfiglib when it has a usable one, else the
system's (kconfig_helper.load_kconfiglib). Uses kconfig_helper.py (beside it in /kbs/in)
to extract the bundles.
"""

import argparse
import io
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kconfig_helper  # noqa: E402

FORMAT = 1


MODULES_ATTR = re.compile(r"^(\s*)modules\s*$", re.M)


def accept_modules_attribute(kconfiglib):
    """Linux 5.13 replaced `option modules` with a bare `modules` line, which Kconfiglib
    14.1 does not know: read it as the old form (same line, so sites keep their numbers)."""
    opener = kconfiglib.Kconfig._open

    def _open(self, filename, mode):
        f = opener(self, filename, mode)
        if mode != "r":
            return f
        with f:
            return io.StringIO(MODULES_ATTR.sub(r"\1option modules", f.read()))

    kconfiglib.Kconfig._open = _open


def parse(kconfiglib, entry):
    """The tree's Kconfig, parsed with its warnings kept (not printed)."""
    return kconfiglib.Kconfig(entry, warn_to_stderr=False)


def load_kconfiglib(root):
    """The tree's own Kconfiglib as it is; the system's, taught the newer syntax of the trees it serves."""
    k = kconfig_helper.load_kconfiglib(root)
    if not os.path.isfile(os.path.join(root, "lib", "kconfiglib", "kconfiglib.py")):
        accept_modules_attribute(k)
    return k


def describe(kconfiglib, kconf):
    k = kconfiglib
    es = k.expr_str
    yes = kconf.y

    def cond(c):
        """An expression as text; None for an always-true condition."""
        return None if c is yes else es(c)

    def names(expr):
        return sorted({i.name for i in k.expr_items(expr) if isinstance(i, k.Symbol) and not i.is_constant})

    def menu_path(node):
        path = []
        p = node.parent
        while p is not None and p is not kconf.top_node:
            if p.prompt and (p.item is k.MENU or p.is_menuconfig or isinstance(p.item, k.Choice)):
                path.append(p.prompt[0])
            p = p.parent
        return list(reversed(path))

    def orig(node, attr):
        return getattr(node, "orig_" + attr, getattr(node, attr))

    reverse = {}  # target name -> {"selectedBy": [...], "impliedBy": [...]}
    syms = [s for s in kconf.unique_defined_syms if s.nodes]
    for s in syms:
        for node in s.nodes:
            for kind, attr in (("selectedBy", "selects"), ("impliedBy", "implies")):
                for target, c in orig(node, attr):
                    r = reverse.setdefault(target.name, {"selectedBy": [], "impliedBy": []})
                    item = {"symbol": s.name, "cond": cond(c)}
                    if item not in r[kind]:
                        r[kind].append(item)

    out = []
    for s in syms:
        refs = set()
        prompts, sites, helps, defaults, ranges, selects, implies, menus = [], [], [], [], [], [], [], []
        visible = []
        for node in s.nodes:
            sites.append({"file": node.filename, "line": node.linenr})
            if node.help is not None and node.help not in helps:
                helps.append(node.help)
            if node.prompt:
                text, c = orig(node, "prompt")
                prompts.append({"text": text, "cond": cond(c)})
                visible.append(node.prompt[1])
                refs.update(names(node.prompt[1]))
            for v, c in orig(node, "defaults"):
                defaults.append({"value": es(v), "cond": cond(c)})
                refs.update(names(v))
                refs.update(names(c))
            for lo, hi, c in orig(node, "ranges"):
                ranges.append({"low": es(lo), "high": es(hi), "cond": cond(c)})
                refs.update(names(c))
            for target, c in orig(node, "selects"):
                selects.append({"symbol": target.name, "cond": cond(c)})
                refs.add(target.name)
                refs.update(names(c))
            for target, c in orig(node, "implies"):
                implies.append({"symbol": target.name, "cond": cond(c)})
                refs.add(target.name)
                refs.update(names(c))
            m = menu_path(node)
            if m not in menus:
                menus.append(m)
            refs.update(names(node.dep))
        r = reverse.get(s.name, {"selectedBy": [], "impliedBy": []})
        for item in r["selectedBy"] + r["impliedBy"]:
            refs.add(item["symbol"])
        choice = None
        if s.choice is not None:
            c = s.choice
            choice = {
                "name": c.name,
                "prompt": next((n.prompt[0] for n in c.nodes if n.prompt), None),
                "members": [m.name for m in c.syms],
                "default": next((d.name for d, dc in c.defaults if dc is yes or k.expr_value(dc)), None) if c.defaults else (c.syms[0].name if c.syms else None),
            }
            refs.update(choice["members"])
        vis = None
        if visible:
            expr = visible[0]
            for e in visible[1:]:
                expr = (k.OR, expr, e)
            vis = cond(expr)
        refs.discard(s.name)
        out.append(
            {
                "name": s.name,
                "type": k.TYPE_TO_STR[s.orig_type] or "unknown",
                "prompts": prompts,
                "help": "\n\n".join(helps) if helps else None,
                "sites": sites,
                "dependsOn": cond(s.direct_dep),
                "visibleIf": vis,
                "selects": selects,
                "selectedBy": r["selectedBy"],
                "implies": implies,
                "impliedBy": r["impliedBy"],
                "defaults": defaults,
                "ranges": ranges,
                "menu": menus,
                "choice": choice,
                "refs": sorted(refs),
            }
        )
    return out


def cmd_index(entry):
    root = os.getcwd()
    source = "tree" if os.path.isfile(os.path.join(root, "lib", "kconfiglib", "kconfiglib.py")) else "system"
    try:
        kconfiglib = load_kconfiglib(root)
    except Exception as e:  # the tree's own copy does not even import
        json.dump({"format": FORMAT, "kconfiglib": source, "error": "Kconfiglib did not load: %s" % e}, sys.stdout)
        return
    try:
        kconf = parse(kconfiglib, entry)
    except BaseException as e:  # a parse error, a failing $(shell,...), a tree that exits
        msg = str(e).strip() or e.__class__.__name__
        json.dump({"format": FORMAT, "kconfiglib": source, "error": msg[:4000]}, sys.stdout)
        return
    json.dump(
        {
            "format": FORMAT,
            "kconfiglib": source,
            "version": getattr(kconfiglib, "__version__", None),
            "mainmenu": kconf.mainmenu_text,
            "warnings": [w[:500] for w in kconf.warnings[:50]],
            "warningCount": len(kconf.warnings),
            "symbols": describe(kconfiglib, kconf),
        },
        sys.stdout,
        separators=(",", ":"),
    )


def cmd_values(entry, config_path):
    k = load_kconfiglib(os.getcwd())
    kconf = parse(k, entry)
    kconf.load_config(config_path)
    kconf.write_min_config("min.config", header="")
    prefix = kconf.config_prefix
    chosen = set()
    with open("min.config") as f:
        for line in f:
            line = line.strip()
            if line.startswith(prefix) and "=" in line:
                chosen.add(line[len(prefix) : line.index("=")])
            elif line.startswith("# " + prefix) and line.endswith(" is not set"):
                chosen.add(line[len("# " + prefix) : -len(" is not set")])

    def truthy_terms(expr, op):
        return [t for t in k.split_expr(expr, op) if k.expr_value(t)]

    def symbol_of(term):
        # a select/imply term is the selector itself, or (AND, selector, cond)
        while isinstance(term, tuple):
            term = term[1]
        return term.name if isinstance(term, (k.Symbol, k.Choice)) and term.name else k.expr_str(term)

    out = {}
    for s in kconf.unique_defined_syms:
        if not s.nodes:
            continue
        written = bool(s.config_string)
        why = {"kind": "default"}
        if s.name in chosen:
            why = {"kind": "user"}
        elif s.orig_type in (k.BOOL, k.TRISTATE) and k.expr_value(s.rev_dep):
            why = {"kind": "selected", "by": [symbol_of(t) for t in truthy_terms(s.rev_dep, k.OR)]}
        elif s.orig_type in (k.BOOL, k.TRISTATE) and k.expr_value(s.weak_rev_dep) and s.tri_value:
            why = {"kind": "implied", "by": [symbol_of(t) for t in truthy_terms(s.weak_rev_dep, k.OR)]}
        elif not written or (any(n.prompt for n in s.nodes) and not s.visibility):
            failing = []
            for n in s.nodes:
                for t in k.split_expr(n.prompt[1] if n.prompt else n.dep, k.AND):
                    if not k.expr_value(t) and k.expr_str(t) not in failing:
                        failing.append(k.expr_str(t))
            why = {"kind": "invisible", "because": failing} if failing else {"kind": "default"}
        if why["kind"] == "default":
            for v, c in s.defaults:
                if k.expr_value(c):
                    why["from"] = k.expr_str(v)
                    if c is not kconf.y:
                        why["cond"] = k.expr_str(c)
                    break
        out[s.name] = {"value": s.str_value, "inConfig": written, "why": why}
    json.dump({"format": FORMAT, "chosen": sorted(chosen), "symbols": out}, sys.stdout, separators=(",", ":"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("op", choices=["index", "values"])
    p.add_argument("--entry", required=True)
    p.add_argument("--bundle", action="append", required=True, help="tars extracted in order (the tree, then its built tools)")
    a = p.parse_args()
    root = os.getcwd()
    for bundle in a.bundle:
        kconfig_helper.extract(bundle, root)
    os.environ.setdefault("srctree", root)
    if a.op == "index":
        cmd_index(a.entry)
    else:
        config_path = os.path.join(root, ".kbs-input.config")
        with open(config_path, "w") as f:
            f.write(sys.stdin.read())
        cmd_values(a.entry, config_path)


if __name__ == "__main__":
    main()
