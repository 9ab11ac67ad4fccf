"""kbs board-preset helper: runs inside a sandbox, never on the host.

Reads a revision's board files (a tar of untrusted text), parses the configuration
instructions at the top of each (the "klipper-header" parser: comment lines before the
first setting) and matches every phrase to a Kconfig prompt of the same revision with
the tree's own Kconfiglib. Headers are only ever compared as text: nothing in them is
evaluated.

  extract  JSON {presets: [...]} for every board file in --boards
  apply    JSON {config, ...} for one board file (--file) with the user's --answers:
           the complete .config (defaults filled in) plus what is still open

Phrases that match no prompt, alternatives ("A" or "B"), optional paragraphs ("If you
prefer ...") and an unknown micro-controller stay open questions: nothing is guessed.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kconfig_helper import extract, load_kconfiglib  # noqa: E402

MAX_FILE = 64 * 1024
MAX_HEADER_LINES = 200
MAX_HEADER_CHARS = 16 * 1024

# Words that carry no meaning when comparing a header phrase with a prompt.
STOP = {"a", "an", "the", "with", "and", "on", "for", "to", "of", "communication", "interface", "select", "enable", "use", "option", "options"}
# Words a prompt may add to what a header says without naming something else ("bootloader"
# in "128KiB bootloader with 512 byte offset", "extra" in "Enable extra low-level ...").
GENERIC = {"bootloader", "extra", "compile", "crystal", "mode", "support", "serial"}
FILE_LIKE = re.compile(r"(\.(bin|cfg|uf2|hex|elf|srec|dict)\b|^[\w.~-]*/[\w./-]*$|^make\b|^menuconfig$)", re.I)
INSTRUCTION = re.compile(r"compiled? (?:the )?(?:firmware )?for|compile the|make (?:the )?firmware for|menuconfig|\bselect\b|\benable\b|\bcheck\b|\bconfigure\b|firmware should be|following configuration|processor model:", re.I)
COMPILE = re.compile(r"compiled? (?:the )?(?:firmware )?for|make (?:the )?firmware for|firmware should be|menuconfig|following configuration|processor model:", re.I)
OPTIONAL = re.compile(r"^(?:if\b|for a\b|for direct\b|alternatively\b|optionally\b|or,? if\b)", re.I)
IDENTIFY = re.compile(r"identify the (?:micro-?controller|mcu|chip)|check the \w+ chip|check which (?:micro-?controller|chip)", re.I)
UNQUOTED = [
    re.compile(r"\b(?:USB|CAN bus|serial)\s*\((?:on\s+)?[^()\"]{1,40}\)", re.I),
    re.compile(r"\b(?:USB|serial|CAN bus)(?=\s+(?:for\s+)?communication)", re.I),
    re.compile(r"\b(?:\d+\s?KiB|no)\s+bootloader\b", re.I),
    re.compile(r"\b\d+(?:\.\d+)?\s?MHz\s+crystal\b", re.I),
    re.compile(r"\b(?:extra\s+)?low-level\s+configuration\s+(?:options|setup)\b", re.I),
    # "Bootloader offset: 32KiB" in list-style headers: the value is the phrase.
    re.compile(r"(?<=bootloader offset: )\S+", re.I),
    re.compile(r"(?<=interface: )[^,;]+?(?=\s+-\s|\s*$|[,;])", re.I),
    re.compile(r"(?<=bootloader offset at )\S+", re.I),
]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text):
    return CONTROL.sub("", text)


def read_header(data):
    """The leading comment block as (raw lines, paragraphs of plain text)."""
    text = clean(data[:MAX_FILE].decode("utf-8", "replace"))
    raw, paras, cur = [], [], []
    for line in text.splitlines():
        s = line.strip()
        if not s:
            if cur:
                paras.append(" ".join(cur))
                cur = []
            raw.append("")
            continue
        if not s.startswith("#") or len(raw) >= MAX_HEADER_LINES:
            break
        raw.append(line.rstrip())
        body = s.lstrip("#").strip()
        if body:
            cur.append(body)
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    header = "\n".join(raw).strip("\n")[:MAX_HEADER_CHARS]
    return header, [re.sub(r"\s+", " ", p) for p in paras]


def sentences(para):
    return [s for s in re.split(r"(?<=[.;!])\s+(?=[A-Z(\"])", para) if s]


def tokens(s):
    s = s.lower()
    s = re.sub(r"(\d+(?:\.\d+)?)\s*(mhz|khz|kib|kb|mb|bytes?)\b", lambda m: m.group(1) + m.group(2).rstrip("s"), s)
    s = re.sub(r"\busb(serial|can)", r"usb \1", s)
    return [t for t in re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", s)]


def words(s):
    return set(tokens(s)) - STOP


def slug(kind, text):
    return kind + "-" + hashlib.sha1((kind + "\0" + text).encode()).hexdigest()[:10]


class Tree:
    """The revision's Kconfig, with the prompts a header can name."""

    def __init__(self, kconfiglib, entry, mcu_choice):
        self.k = kconfiglib
        self.kconf = kconfiglib.Kconfig(entry, warn=False)
        self.prompted = []  # (symbol, prompt text)
        self.mcus = []  # choice members of the micro-controller choice
        for node in self.kconf.node_iter():
            item = node.item
            if isinstance(item, kconfiglib.Choice) and node.prompt and node.prompt[0].strip().lower() == mcu_choice.lower():
                for sym in item.syms:
                    if sym not in self.mcus:
                        self.mcus.append(sym)
            if isinstance(item, kconfiglib.Symbol) and node.prompt:
                self.prompted.append((item, node.prompt[0]))

    @property
    def families(self):
        """Members of the choices the micro-controller choices depend on (the architecture:
        "LPC176x", "Huada Semiconductor HC32F460"), for headers that name only those."""
        if not hasattr(self, "_families"):
            choices = []
            for m in self.mcus:
                for d in self.deps(m):
                    if d.choice is not None and d.choice not in choices:
                        choices.append(d.choice)
            self._families = [s for c in choices for s in c.syms]
        return self._families

    def prompt(self, sym):
        for node in sym.nodes:
            if node.prompt:
                return node.prompt[0]
        return sym.name

    def reset(self, assignments):
        self.kconf.unset_values()
        for name, value in assignments:
            self.kconf.syms[name].set_value(value)

    def holds(self, name, value):
        return self.kconf.syms[name].str_value == value

    def deps(self, sym):
        """Symbols that the visibility of sym's prompts depends on."""
        exprs = []
        for node in sym.nodes:
            exprs.append(node.dep)
            if node.prompt:
                exprs.append(node.prompt[1])
        if sym.choice is not None:
            for node in sym.choice.nodes:
                exprs.append(node.dep)
                if node.prompt:
                    exprs.append(node.prompt[1])
        out = []
        for e in exprs:
            for s in self.k.expr_items(e):
                if isinstance(s, self.k.Symbol) and s not in out and s is not sym:
                    out.append(s)
        return out

    def enable(self, assignments, sym, value="y", depth=0):
        """assignments plus what makes sym take value (its menu dependencies switched on), or None."""
        trial = assignments + [(sym.name, value)]
        if self.all_hold(trial):
            return trial
        if depth > 4:
            return None
        asg = list(assignments)
        for dep in self.deps(sym):
            self.reset(asg)
            if dep.orig_type in (self.k.BOOL, self.k.TRISTATE) and dep.tri_value == 0 and any(n.prompt for n in dep.nodes):
                more = self.enable(asg, dep, "y", depth + 1)
                if more is not None:
                    asg = more
        trial = asg + [(sym.name, value)]
        return trial if self.all_hold(trial) else None

    def all_hold(self, assignments):
        """Whether every assignment took (a later one may not undo an earlier choice)."""
        self.reset(assignments)
        return all(self.holds(n, v) for n, v in assignments)

    def candidates(self, phrase, visible_only, string_value):
        """The best-matching prompted symbols for a phrase: (how, [symbols])."""
        p = words(phrase)
        if not p:
            return None, []
        nums = {t for t in p if re.search(r"\d", t)}
        ranked = []
        for sym, text in self.prompted:
            is_string = sym.orig_type in (self.k.STRING, self.k.INT, self.k.HEX)
            if is_string != string_value:
                continue
            if visible_only and sym.visibility == 0:
                continue
            q = words(text)
            common = p & q
            if not nums <= q:
                continue
            # What the prompt adds must be detail in parentheses ("(on PA11/PA12)") or a generic
            # word: "USB" is "USB (on PA11/PA12)", not "USB to CAN bus bridge".
            detail = q - words(re.sub(r"\([^)]*\)", " ", text))
            if not (q - p) <= detail | GENERIC:
                continue
            if p == q:
                level = 3
            elif common == p:
                level = 2
            elif len(p) >= 3 and len(common) / len(p) >= 0.75:
                level = 1
            else:
                continue
            ranked.append((-level, len(q - p), sym))
        if not ranked:
            return None, []
        ranked.sort(key=lambda r: (r[0], r[1]))
        best = [r for r in ranked if r[:2] == ranked[0][:2]]
        syms = []
        for _, _, sym in best:
            if sym not in syms:
                syms.append(sym)
        return {3: "exact", 2: "words", 1: "close"}[-ranked[0][0]], syms


def phrases_of(sentence):
    """(start, end, phrase, value) in order: quoted phrases, then the unquoted forms headers use."""
    found = []
    quoted_spans = []
    for m in re.finditer(r"\"([^\"\n]{1,100})\"(?:\s+to\s+\"([^\"\n]{0,100})\")?", sentence):
        quoted_spans.append((m.start(), m.end()))
        text = m.group(1).strip()
        if FILE_LIKE.search(text) or not re.search(r"[A-Za-z]{2}", text):
            continue
        found.append((m.start(), m.end(), text, m.group(2)))
    masked = list(sentence)
    for a, b in quoted_spans:
        masked[a:b] = " " * (b - a)
    masked = "".join(masked)
    for pattern in UNQUOTED:
        for m in pattern.finditer(masked):
            if any(a < m.end() and m.start() < b for a, b, _, _ in found):
                continue
            found.append((m.start(), m.end(), m.group(0), None))
    return sorted(found)


def title_of(paras, file):
    first = paras[0] if paras else ""
    m = re.search(r"pin mappings for (?:the )?(?:stock )?(.+?)(?:\.\s|\.$| boards?\b|$)", first, re.I)
    if m and len(m.group(1)) <= 80:
        return m.group(1).strip()
    stem = os.path.splitext(os.path.basename(file))[0]
    return re.sub(r"^(generic|printer|sample|kit)-", "", stem).replace("-", " ")


def flash_of(paras):
    """The header's flashing paragraphs and the file name the board expects, if it says one."""
    lines = [p for p in paras if re.search(r"make flash|sd card|\.bin\b|\.uf2\b|boot ?mode|dfu|objcopy|flash (?:this|the) firmware", p, re.I)]
    save_as = None
    for p in lines:
        m = re.search(r"(?:file named|renamed? (?:it )?to|must be changed to|named)\s+\"?([A-Za-z0-9_.-]{1,60}\.(?:bin|uf2|hex|srec|cur))\"?", p, re.I)
        if m:
            save_as = m.group(1)
            break
    return {"lines": lines, "saveAs": save_as}


def analyse(tree, file, data, answers):
    header, paras = read_header(data)
    out = {
        "id": os.path.splitext(os.path.basename(file))[0],
        "file": file,
        "title": title_of(paras, file),
        "header": header,
        "flash": flash_of(paras),
        "mcu": None,
        "complete": False,
        "questions": [],
        "matched": [],
        "assignments": [],
        "badAnswers": [],
        # Optional paragraphs ("If you prefer a direct serial connection, ..."): shown, never applied.
        "offers": [],
    }
    questions = out["questions"]
    used = set()

    def ask(kind, text, options=(), context=""):
        qid = slug(kind, text)
        q = {"id": qid, "kind": kind, "text": text, "context": context[:400], "options": [{"symbol": s.name, "label": tree.prompt(s)} for s in options]}
        if qid in answers and qid not in used:
            used.add(qid)
            choice = answers[qid]
            if q["options"] and choice not in [o["symbol"] for o in q["options"]]:
                out["badAnswers"].append({"question": qid, "answer": choice, "why": "not one of the question's options"})
                questions.append(q)
                return None
            if choice not in tree.kconf.syms:
                out["badAnswers"].append({"question": qid, "answer": choice, "why": "no such symbol in this revision"})
                questions.append(q)
                return None
            return tree.kconf.syms[choice]
        questions.append(q)
        return None

    instr, optional = [], []
    for para in paras:
        for s in sentences(para):
            if INSTRUCTION.search(s):
                (optional if OPTIONAL.search(s) else instr).append(s)
    if not any(COMPILE.search(s) for s in instr) and not any(phrases_of(s) for s in instr):
        out["status"] = "none"
        return out

    # The micro-controller: prompts of the recipe's MCU choice named in the instructions
    # (part numbers: words with letters and digits); else an architecture's name.
    def mentions_of(members):
        by_word = {}
        for sym in members:
            for t in tokens(tree.prompt(sym)):
                if re.search(r"\d", t) and re.search(r"[a-z]", t):
                    by_word.setdefault(t, sym)
        found = []  # (sentence index, position, symbol)
        for i, s in enumerate(instr):
            for m in re.finditer(r"[A-Za-z0-9]+", s):
                sym = by_word.get(m.group(0).lower())
                if sym is not None:
                    found.append((i, m.start(), sym))
        return found

    mentions = mentions_of(tree.mcus)
    family = not mentions
    if family:
        mentions = mentions_of(tree.families)
    named = []
    for _, _, sym in mentions:
        if sym not in named:
            named.append(sym)
    identify = any(IDENTIFY.search(s) for s in instr)
    asg = []
    mcu = None
    if len(named) == 1 and not identify:
        mcu = named[0]
    else:
        text = "Which micro-controller is on the board? The header " + ("names " + " or ".join(tree.prompt(s) for s in named) if named else "names none this revision knows") + (" and asks to identify it first." if identify else ".")
        mcu = ask("mcu", text, named if named else tree.mcus, " ".join(instr))
    if mcu is not None:
        got = tree.enable(asg, mcu)
        if got is None:
            ask("unsettable", "The micro-controller " + tree.prompt(mcu) + " cannot be selected in this revision.")
        else:
            asg = got
            out["mcu"] = tree.prompt(mcu)
            out["matched"].append({"phrase": tree.prompt(mcu), "symbol": mcu.name, "prompt": tree.prompt(mcu), "how": "mcu"})
            # A family ("LPC176x") with several models: which one is a question, not the default.
            models = [s for s in tree.mcus if s.visibility > 0] if family else []
            if len(models) > 1:
                model = ask("mcu", "Which " + tree.prompt(mcu) + " is on the board? The header names only the family.", models, " ".join(instr))
                got = tree.enable(asg, model) if model is not None else None
                if got is not None:
                    asg = got
                    out["mcu"] = tree.prompt(model)
                    out["matched"].append({"phrase": tree.prompt(model), "symbol": model.name, "prompt": tree.prompt(model), "how": "answer"})
                else:
                    out["mcu"] = None

    # Phrases, grouped: "A" or "B" is one group of alternatives. With several MCUs named,
    # each phrase belongs to the MCU mentioned last before it.
    groups = []
    for i, s in enumerate(instr):
        prev_end = None
        for start, end, text, value in phrases_of(s):
            owner = None
            for mi, mpos, msym in mentions:
                if mi == i and mpos < start:
                    owner = msym
            between = s[prev_end:start] if prev_end is not None else None
            if between is not None and re.fullmatch(r"[\s\"',]*(?:or|either)[\s\"',]*(?:the\s+)?", between, re.I):
                groups[-1]["alts"].append((text, value))
            else:
                groups.append({"alts": [(text, value)], "owner": owner, "sentence": s})
            prev_end = end

    chosen_choices = {}  # choice -> phrase that set it

    def resolve(text, value):
        """(how, symbols) a phrase names: visible prompts first, then hidden ones that can be reached."""
        string_value = value is not None
        tree.reset(asg)
        how, syms = tree.candidates(text, True, string_value)
        if not syms or how == "close" and len(syms) > 1:
            how2, syms2 = tree.candidates(text, False, string_value)
            # Hidden prompts count only where they can be reached without undoing the board's other choices.
            syms2 = [s for s in syms2 if tree.enable(asg, s, value if string_value else "y") is not None]
            if syms2 and (not syms or how2 == "exact"):
                how, syms = how2, syms2
        if len(syms) > 1:
            tree.reset(asg)
            defaults = [s for s in syms if s.choice is not None and s.choice.selection is s]
            if len(defaults) == 1:
                syms, how = defaults, how + "+default"
        return how, syms

    def settle(text, value, context, quiet):
        """Apply one phrase; quiet (a phrase of another micro-controller the header names) never asks."""
        nonlocal asg
        string_value = value is not None
        how, syms = resolve(text, value)
        if quiet and len(syms) != 1:
            return None
        if not syms:
            return ask("unmatched", "The header says \"" + text + "\", which names no Kconfig prompt of this revision.", (), context)
        if len(syms) > 1:
            return ask("ambiguous", "The header says \"" + text + "\"; which of these does it mean?", syms, context)
        sym = syms[0]
        if sym.choice is not None and sym.choice in chosen_choices and chosen_choices[sym.choice][0] is not sym:
            if quiet:
                return None
            return ask("conflict", "The header says both \"" + chosen_choices[sym.choice][1] + "\" and \"" + text + "\" for " + (sym.choice.nodes[0].prompt[0] if sym.choice.nodes[0].prompt else "one choice") + ".", [tree.kconf.syms[n] for n, _ in asg if tree.kconf.syms[n].choice is sym.choice] + [sym], context)
        got = tree.enable(asg, sym, value if string_value else "y")
        if got is None and quiet:
            return None
        if got is None:
            return ask("unsettable", "The header says \"" + text + "\" (" + tree.prompt(sym) + "), which cannot be set with the rest of this board's choices.", (), context)
        asg = got
        if sym.choice is not None:
            chosen_choices[sym.choice] = (sym, text)
        out["matched"].append({"phrase": text + ("" if value is None else " = " + value), "symbol": sym.name, "prompt": tree.prompt(sym), "how": how})
        return sym

    def run_group(g, quiet=False):
        nonlocal asg
        if len(g["alts"]) == 1:
            text, value = g["alts"][0]
            settle(text, value, g["sentence"], quiet)
            return
        options = []
        for text, value in g["alts"]:
            options.extend(s for s in resolve(text, value)[1] if s not in options)
        label = " or ".join("\"" + t + "\"" for t, _ in g["alts"])
        sym = ask("alternatives", "The header offers " + label + ".", options, g["sentence"])
        if sym is not None:
            got = tree.enable(asg, sym)
            if got is None:
                ask("unsettable", "The answer " + tree.prompt(sym) + " cannot be set with the rest of this board's choices.")
            else:
                asg = got
                out["matched"].append({"phrase": label, "symbol": sym.name, "prompt": tree.prompt(sym), "how": "answer"})

    own = [g for g in groups if g["owner"] is None or g["owner"] is mcu or len(named) <= 1]
    others = [g for g in groups if g not in own]
    if mcu is not None or not named:
        for g in own:
            run_group(g)
        for g in others:
            run_group(g, quiet=True)
    for s in optional:
        found = [t for _, _, t, _ in phrases_of(s)]
        if found:
            out["offers"].append({"text": s[:400], "phrases": found})

    out["assignments"] = asg
    out["complete"] = not questions and out["mcu"] is not None
    out["status"] = "complete" if out["complete"] else "questions"
    return out


def read_boards(path):
    """(name, bytes) of the regular files in the boards tar, each cut to MAX_FILE."""
    out = []
    with tarfile.open(path) as tar:
        for m in tar:
            if m.isfile():
                name = m.name[2:] if m.name.startswith("./") else m.name
                out.append((name, tar.extractfile(m).read(MAX_FILE)))
    return sorted(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("op", choices=["extract", "apply"])
    p.add_argument("--entry", required=True)
    p.add_argument("--bundle", action="append", required=True)
    p.add_argument("--boards", required=True)
    p.add_argument("--mcu-choice", required=True)
    p.add_argument("--file")
    p.add_argument("--answers", default="{}")
    a = p.parse_args()

    root = os.getcwd()
    for bundle in a.bundle:
        extract(bundle, root)
    os.environ.setdefault("srctree", root)
    boards = read_boards(a.boards)
    kconfiglib = load_kconfiglib(root)
    tree = Tree(kconfiglib, a.entry, a.mcu_choice)

    if a.op == "extract":
        presets = []
        for name, data in boards:
            try:
                presets.append(analyse(tree, name, data, {}))
            except Exception as e:  # one odd file must not lose the others
                presets.append({"id": os.path.splitext(os.path.basename(name))[0], "file": name, "status": "failed", "error": str(e)[:300]})
        json.dump({"presets": presets}, sys.stdout)
        return

    data = dict(boards).get(a.file)
    if data is None:
        sys.exit("no board file " + a.file)
    answers = json.loads(a.answers)
    res = analyse(tree, a.file, data, answers)
    tree.reset(res["assignments"])
    tree.kconf.write_config("out.config", header="")
    with open("out.config") as f:
        res["config"] = f.read()
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
