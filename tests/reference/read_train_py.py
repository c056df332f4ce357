"""Reads generated train.py scripts back with Python's `ast` (no execution) for the export tests.

For each path given: compiles it (a syntax error fails), then prints, as one JSON list,
  consts       the module's upper-case constants (NAME = literal)
  calls        every call inside main(), in source order: dotted callee, positional args and
               keyword args, each value a constant's value when it names one, a literal, a nested
               call as {"call", "kwargs"}, or else its dotted name ("losses.TripletDistanceMetric.COSINE")
  assignments  the calls assigned to a single name inside main(), as {"target", "call"}, in source order
  loops        the dotted iterables of main()'s for loops
Used by src/lib/export/loss-export.test.ts and trainable-export.test.ts through read-train-py.ts.
"""
import ast, json, py_compile, sys


def dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return dotted(node.value) + "." + node.attr
    if isinstance(node, ast.Subscript):
        return dotted(node.value) + "[" + ast.unparse(node.slice) + "]"
    if isinstance(node, ast.Call):
        return dotted(node.func) + "()"
    return ast.dump(node)


def read(path):
    py_compile.compile(path, doraise=True)
    tree = ast.parse(open(path).read())
    consts = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body
              if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and n.targets[0].id.isupper()}

    def value(node):
        if isinstance(node, ast.Name) and node.id in consts:
            return consts[node.id]
        if isinstance(node, ast.Call):
            return {"call": dotted(node.func), "kwargs": {k.arg: value(k.value) for k in node.keywords}}
        try:
            return ast.literal_eval(node)
        except Exception:
            return dotted(node)

    def call(n):
        return {"func": dotted(n.func), "args": [value(a) for a in n.args], "kwargs": {k.arg: value(k.value) for k in n.keywords}}

    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    nodes = sorted((n for n in ast.walk(main) if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset))
    calls = [call(n) for n in nodes if isinstance(n, ast.Call)]
    assignments = [{"target": n.targets[0].id, "call": call(n.value)} for n in nodes
                   if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Call)]
    loops = [dotted(n.iter) for n in nodes if isinstance(n, ast.For)]
    return {"consts": consts, "calls": calls, "assignments": assignments, "loops": loops}


print(json.dumps([read(p) for p in sys.argv[1:]]))
