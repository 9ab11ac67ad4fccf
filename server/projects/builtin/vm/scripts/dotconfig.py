"""Reads a Kconfig .config (after olddefconfig every symbol is present) into a dict."""
import re

_LINE = re.compile(r'^CONFIG_([A-Za-z0-9_]+)=(.*)$')
_UNSET = re.compile(r'^# CONFIG_([A-Za-z0-9_]+) is not set$')


def load(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            m = _LINE.match(line)
            if m:
                raw = m.group(2)
                if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
                    raw = re.sub(r'\\(.)', r'\1', raw[1:-1])
                values[m.group(1)] = raw
                continue
            m = _UNSET.match(line)
            if m:
                values[m.group(1)] = "n"
    return values


def enabled(values, name):
    return values.get(name) == "y"
