#!/usr/bin/env python3
"""Summarise an Autobahn|Testsuite fuzzingclient report (used by autobahn.sh).

  usage: autobahn_summary.py REPORT_DIR EXPECTED_CASES_JSON

REPORT_DIR holds wstest's index.json and one JSON file per case;
EXPECTED_CASES_JSON is the list of case ids that were selected. Prints a
per-group table, every non-OK case with its reason, and a last line
"N passed, N failed". Exit status 1 when failed > 0, else 0.
"""
import json
import os
import sys
import textwrap

PASS = ("OK", "NON-STRICT", "INFORMATIONAL")
FAIL = ("UNIMPLEMENTED", "FAILED", "MISSING")
COLS = PASS + FAIL
SHORT = {"NON-STRICT": "NON-STR", "INFORMATIONAL": "INFO", "UNIMPLEMENTED": "UNIMPL"}
GROUPS = {"1": "framing", "2": "ping/pong", "3": "reserved bits", "4": "opcodes",
          "5": "fragmentation", "6": "UTF-8", "7": "close", "9": "limits/perf",
          "10": "auto-fragment", "12": "deflate payload", "13": "deflate params"}


def case_key(cid):
    return [int(p) for p in cid.split(".")]


def events(evs):
    """Short text for a list of wstest events, e.g. ['message', 'Hello', False]."""
    out = []
    for e in evs or []:
        if e and e[0] in ("message", "ping", "pong") and len(e) > 1:
            out.append("%s(%dB)" % (e[0], len(e[1]) if hasattr(e[1], "__len__") else 0))
        else:
            out.append(" ".join(str(x) for x in e))
    return "[" + ", ".join(out) + "]"


def explain(beh, r, d):
    """The report's reason for a non-OK verdict, on one line."""
    close = "close=%s code=%s" % (r.get("behaviorClose"), r.get("remoteCloseCode"))
    if d.get("remoteCloseReason"):
        close += " %r" % d["remoteCloseReason"]
    parts = [close]
    if beh == "NON-STRICT":
        # wstest's own text ("Actual events match at least one expected") says
        # nothing; what differs is the events compared to the strict set.
        parts.append("got %s, strict wants %s" % (events(d.get("received")),
                                                   events((d.get("expected") or {}).get("OK"))))
    for key in ("result", "resultClose"):
        text = " ".join((d.get(key) or "").split())
        if text and text not in parts and text not in ("Actual events match at least one expected.",
                                                       "Connection was properly closed"):
            parts.append(text)
    return " - ".join(parts)


def main(report_dir, expected_file):
    with open(os.path.join(report_dir, "index.json")) as f:
        index = json.load(f)
    with open(expected_file) as f:
        expected = json.load(f)
    results = {}
    for per_agent in index.values():        # one server per run
        results.update(per_agent)

    table = {}
    nonok = []
    for cid in sorted(set(expected) | set(results), key=case_key):
        r = results.get(cid)
        beh = r["behavior"] if r else "MISSING"
        if beh not in COLS:                 # unknown verdict: treat as a failure
            beh = "FAILED"
        table.setdefault(cid.split(".")[0], dict.fromkeys(COLS, 0))[beh] += 1
        if beh != "OK":
            nonok.append((cid, beh, r))

    print("\n%-20s" % "group" + "".join("%9s" % SHORT.get(c, c) for c in COLS))
    total = dict.fromkeys(COLS, 0)
    for g in sorted(table, key=int):
        for c in COLS:
            total[c] += table[g][c]
        print("%-20s" % ("%s %s" % (g, GROUPS.get(g, ""))) + "".join("%9d" % table[g][c] for c in COLS))
    print("%-20s" % "total" + "".join("%9d" % total[c] for c in COLS))

    if nonok:
        print("\nnon-OK cases:")
    for cid, beh, r in nonok:
        if r is None:
            continue                        # listed together below
        reason = ""
        try:
            with open(os.path.join(report_dir, r["reportfile"])) as f:
                detail = json.load(f)
            reason = explain(beh, r, detail)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        print("  %-9s %-13s %s" % (cid, beh, reason))

    missing = [cid for cid, _, r in nonok if r is None]
    if missing:
        print("  MISSING (%d, not in the report: the server died, or wstest hit its timeout):" % len(missing))
        print(textwrap.fill(", ".join(missing), width=100, initial_indent="    ", subsequent_indent="    "))

    passed = sum(total[c] for c in PASS)
    failed = sum(total[c] for c in FAIL)
    print("\nreport: %s" % os.path.join(report_dir, "index.html"))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        rc = main(sys.argv[1], sys.argv[2])
    except Exception as e:  # a broken report must not look like "cases failed" (1)
        sys.stderr.write("autobahn_summary.py: cannot read the report: %r\n" % (e,))
        rc = 3
    sys.exit(rc)
