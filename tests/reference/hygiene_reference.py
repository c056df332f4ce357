#!/usr/bin/python3
"""Independent reference for tabtune's data hygiene checks (src/lib/data/hygiene.ts).

Written from the definitions in docs/data.md#data-hygiene, not from the TypeScript, in the plainest
Python (Counter, dict, set; nothing shared with the TS):
  - texts are compared as " ".join(text.split()) (Python's whitespace, runs made one space);
  - duplicate rows: within a split, rows equal on anchor, positive, each negative and the score;
    every copy after the first counts;
  - shared positives: among training rows that are not duplicate copies, the rows whose positive
    another such row has, the documents involved, and those documents whose rows spell the text
    in more than one way (raw strings differ);
  - leaked test rows: test rows whose positive is a training positive; samePair: those whose
    (anchor, positive) is also a training row's;
  - remedies: moveLeakedTest appends leaked test rows to train (in test order) unless that would
    empty test; then dropDuplicates keeps the first of each duplicate group in each split.

The fixture is built here: 40 plain training rows and 12 plain test rows, then planted cases, each
named in a comment below (whitespace-only variants, a copy that differs in case, in its negative,
in its score, or by a U+FEFF that Python does not call whitespace, a U+001C that it does, shared
documents, leaks by exact pair and by whitespace variant, a test positive that is only a training
anchor). Output: tests/reference/data/hygiene.json with the rows and, for each remedy combination,
the counts and the rows kept (split and 0-based row of each, in order).

Run: /usr/bin/python3 tests/reference/hygiene_reference.py [--out tests/reference/data/hygiene.json]
"""
import argparse
import json
import os
from collections import Counter


def row(anchor, positive, negative, score=1.0):
    return {"anchor": anchor, "positive": positive, "negative": negative, "score": score}


def fixture():
    train = [row(f"question {i}", f"document {i}", f"other {i}") for i in range(40)]
    test = [row(f"test question {j}", f"test document {j}", f"test other {j}") for j in range(12)]
    # Duplicates in train.
    train.append(dict(train[3]))                                                       # exact copy
    train.append(row("  question 5\n", "document\t 5", "other 5 "))                    # whitespace only
    train.append(row("question\u00a07", "document\u30007", "other\u20037"))           # NBSP, ideographic, em space
    train.append(dict(train[9]))                                                       # three copies of row 9
    train.append(dict(train[9]))
    # Not duplicates (each shares its positive with its original instead).
    train.append(row("Question 11", "document 11", "other 11"))                        # case differs
    train.append(row("question 12", "document 12", "another 12"))                      # negative differs
    train.append(row("question 13", "document 13", "other 13", 0.5))                   # score differs
    train.append(row("\ufeffquestion 14", "document 14", "other 14"))                  # U+FEFF is not whitespace to Python
    # Shared positives.
    train.append(row("who wrote document 20?", "document 20", "other x"))              # three rows on document 20
    train.append(row("where is document 20?", "document 20", "other y"))
    train.append(row("about document 21", "document  21", "other z"))                 # spelled apart (two spaces)
    train.append(row("about document 22", "document\x1c22", "other w"))               # U+001C is whitespace to Python
    # Leaks and test duplicates.
    test.append(row("a new question on document 30", "document 30", "test other a"))   # leak, new anchor
    test.append(row("question 31", "document 31", "test other b"))                     # leak, same pair
    test.append(row("question 32", " document 32 ", "other 32"))                       # leak through whitespace, same pair
    test.append(row("asks about question 33", "question 33", "test other c"))          # positive is a training anchor only: no leak
    test.append(dict(test[2]))                                                         # duplicate test row
    test.append(row("another question on document 30", "document 30", "test other d")) # a second leak on document 30
    return train, test


def key(text):
    return " ".join(text.split())


def row_key(r):
    return (key(r["anchor"]), key(r["positive"]), key(r["negative"]), r["score"])


def remedy(train, test, drop, move):
    """Lists of (split, row index) kept in train and in test."""
    tr = [("train", i) for i in range(len(train))]
    te = [("test", j) for j in range(len(test))]
    rows = {"train": train, "test": test}
    if move:
        positives = {key(r["positive"]) for r in train}
        leaked = [x for x in te if key(rows[x[0]][x[1]]["positive"]) in positives]
        if leaked and len(leaked) < len(te):
            tr = tr + leaked
            te = [x for x in te if x not in leaked]

    def dedupe(ids):
        seen, out = set(), []
        for s, i in ids:
            k = row_key(rows[s][i])
            if k not in seen:
                seen.add(k)
                out.append((s, i))
        return out

    if drop:
        tr, te = dedupe(tr), dedupe(te)
    return tr, te


def report(train, test):
    def copies(rows):
        c = Counter(row_key(r) for r in rows)
        return sum(n - 1 for n in c.values())

    seen, distinct = set(), []
    for r in train:
        if row_key(r) not in seen:
            seen.add(row_key(r))
            distinct.append(r)
    by_doc = {}
    for r in distinct:
        by_doc.setdefault(key(r["positive"]), []).append(r["positive"])
    shared = {k: raws for k, raws in by_doc.items() if len(raws) > 1}
    positives = {key(r["positive"]) for r in train}
    pairs = {(key(r["anchor"]), key(r["positive"])) for r in train}
    leaked = [r for r in test if key(r["positive"]) in positives]
    return {
        "duplicates": {"train": copies(train), "test": copies(test)},
        "sharedPositives": {
            "rows": sum(len(v) for v in shared.values()),
            "documents": len(shared),
            "spelledApart": sum(1 for v in shared.values() if len(set(v)) > 1),
        },
        "leakedTest": {"rows": len(leaked), "samePair": sum(1 for r in leaked if (key(r["anchor"]), key(r["positive"])) in pairs)},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data", "hygiene.json"))
    args = ap.parse_args()
    train, test = fixture()
    remedies = {}
    for name, drop, move in [("none", False, False), ("dropDuplicates", True, False), ("moveLeakedTest", False, True), ("both", True, True)]:
        tr, te = remedy(train, test, drop, move)
        remedies[name] = {"train": [list(x) for x in tr], "test": [list(x) for x in te]}
    out = {"format_version": "1", "train": train, "test": test, "report": report(train, test), "remedies": remedies}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=True, indent=1)
        f.write("\n")
    print(json.dumps(out["report"]))


if __name__ == "__main__":
    main()
