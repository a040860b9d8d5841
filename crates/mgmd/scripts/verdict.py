"""The checks of an end-to-end script's results, shared by the scripts' Python verdicts:

    sys.path.insert(0, HERE); from verdict import Verdict
    v = Verdict(RUN)
    v.ok("what was checked", condition, "what was seen")
    v.load("run1", "status.json"); v.text(...); v.env("run1")   # files under RUN
    sys.exit(v.finish("e2e_name"))
"""
import json
import os


class Verdict:
    def __init__(self, run):
        self.run = run
        self.fails = []

    def ok(self, what, cond, detail=""):
        """Prints "ok:" or "FAIL:" with what was checked (and what was seen); counts a failure."""
        print(("ok:   " if cond else "FAIL: ") + what + (f" ({detail})" if detail else ""))
        if not cond:
            self.fails.append(what)

    def text(self, d, f):
        """The text of RUN/d/f, empty when it cannot be read."""
        try:
            with open(os.path.join(self.run, d, f)) as h:
                return h.read()
        except OSError:
            return ""

    def load(self, d, f):
        """The JSON of RUN/d/f, {} when it cannot be read or parsed."""
        try:
            return json.loads(self.text(d, f))
        except ValueError:
            return {}

    def env(self, d):
        """RUN/d/result.env's KEY=VALUE lines (quotes taken off)."""
        out = {}
        for line in self.text(d, "result.env").splitlines():
            k, _, v = line.partition("=")
            out[k] = v.strip('"')
        return out

    def finish(self, name):
        """Prints the outcome; the exit status."""
        print(f"{name}: {'ok' if not self.fails else str(len(self.fails)) + ' failed'}")
        return 1 if self.fails else 0
