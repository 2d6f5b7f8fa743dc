#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Records the kernel's QP state transition table as test data.

Reads qp_state_table in a Linux tree's drivers/infiniband/core/verbs.c
(the table ib_modify_qp_is_ok() consults) and prints, for each valid
(current, next) pair and each QP type we create (RC, UC, UD, GSI), the
required and optional attribute masks by name. The core's host tests
(proto/src/modify.rs) compare our own table with this record.

    tools/qp-transitions.py LINUX_TREE > rxe_migros/proto/testdata/qp_transitions.txt
"""
import re
import sys

TYPES = ("RC", "UC", "UD", "GSI")


def tokens(text):
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\d+|[\[\]{}()=,.|]", text)


class Parser:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self):
        return self.t[self.i]

    def take(self, want=None):
        tok = self.t[self.i]
        if want is not None and tok != want:
            raise SyntaxError(f"expected {want!r}, found {tok!r}")
        self.i += 1
        return tok

    def value(self):
        """An initializer: a designated list, a mask expression or a number."""
        if self.peek() == "{":
            return self.braced()
        names = set()
        while self.peek() not in (",", "}"):
            tok = self.take()
            if re.match(r"IB_QP_|\d", tok):
                names.add(tok)
        return names

    def braced(self):
        self.take("{")
        out = {}
        while self.peek() != "}":
            if self.peek() == "[":
                self.take("[")
                key = self.take()
                while self.peek() != "]":
                    key += self.take()
                self.take("]")
            else:
                self.take(".")
                key = self.take()
            self.take("=")
            out[key] = self.value()
            if self.peek() == ",":
                self.take(",")
        self.take("}")
        return out


def main():
    src = open(f"{sys.argv[1]}/drivers/infiniband/core/verbs.c").read()
    m = re.search(r"\}\s*qp_state_table\[[^=]*=\s*", src)
    toks = tokens(src[m.end():])
    table = Parser(toks).braced()
    print("# The kernel's QP state transitions (qp_state_table in Linux's")
    print("# drivers/infiniband/core/verbs.c), recorded by tools/qp-transitions.py:")
    print("# current next type required optional; '-' is none. A pair not listed")
    print("# is no transition.")
    for cur, row in table.items():
        for nxt, cell in row.items():
            if cell.get("valid") != {"1"}:
                continue
            for ty in TYPES:
                req = cell.get("req_param", {}).get(f"IB_QPT_{ty}", set())
                opt = cell.get("opt_param", {}).get(f"IB_QPT_{ty}", set())
                name = lambda s: "|".join(sorted(n[len("IB_QP_"):] for n in s)) or "-"
                print(cur[len("IB_QPS_"):], nxt[len("IB_QPS_"):], ty, name(req), name(opt))


main()
