"""Parse spec strings with execnet's XSpec and print what it made of them.

Used by tests/spec_execnet.rs. Reads a JSON list of spec strings on stdin and
writes one JSON list on stdout: for each spec either
{"ok": true, "fields": {...}} or {"ok": false, "error": "<Type>: <message>"}.
Field values are as execnet holds them: a string, true for a bare flag, or
null when absent; "env" is a list of [name, value] pairs in dict order and
"nice_int" is int(nice) (null when nice is absent, empty or not an integer).
"""

import json
import sys

import execnet

COMMON = ("python", "chdir", "nice", "id", "ssh", "socket", "via", "popen",
          "vagrant_ssh", "ssh_config")


def describe(spec):
    try:
        x = execnet.XSpec(spec)
    except Exception as e:  # execnet raises ValueError, AttributeError, IndexError
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    fields = {k: getattr(x, k, None) for k in COMMON}
    fields["env"] = [[k, v] for k, v in x.env.items()]
    try:
        fields["nice_int"] = int(x.nice) if x.nice else None
    except (TypeError, ValueError):
        fields["nice_int"] = None
    return {"ok": True, "str": str(x), "fields": fields}


def main():
    specs = json.load(sys.stdin)
    json.dump([describe(s) for s in specs], sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
