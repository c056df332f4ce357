// Reverse-mode autodiff over the graph IR: appends the backward nodes to the same Graph, visiting
// only nodes on a path from `wrt` to `y`, and sums fan-out gradients with chains of Add (never the
// variadic Sum, which WebGPU sessions run on the CPU).
// Not the gradient rules themselves: each op's rule lives beside it in src/lib/ops/.

import { type Graph, type Node, Value } from '../graph/graph.ts';
import { add, zerosLike } from '../ops/elementwise.ts';

function differentiableInputs(node: Node): number[] {
  const nd = node.op.nondiff;
  if (nd === 'all') return [];
  return node.inputs.map((_, i) => i).filter((i) => !nd?.includes(i) && node.inputs[i] !== null);
}

function sameShape(a: Value, b: Value): boolean {
  return a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]);
}

/**
 * Gradients of `y` with respect to each of `wrt`, as new Values of `graph` named `grad/<name>`.
 * `dy` is the upstream gradient (same shape as y); omitted, y must have a single element and the
 * seed is 1. A wrt that y does not depend on gets zeros.
 */
export function gradients(graph: Graph, y: Value, wrt: Value[], dy?: Value): Value[] {
  // Values that depend on some wrt through differentiable edges.
  const reached = new Set<Value>(wrt);
  for (const node of graph.nodes) {
    if (differentiableInputs(node).some((i) => reached.has(node.inputs[i]!))) {
      for (const out of node.outputs) reached.add(out);
    }
  }
  // Values y depends on.
  const needed = new Set<Value>([y]);
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const node = graph.nodes[k];
    if (node.outputs.some((o) => needed.has(o))) for (const x of node.inputs) if (x) needed.add(x);
  }
  const active = graph.nodes.filter((n) => n.outputs.some((o) => reached.has(o) && needed.has(o)));

  const grads = new Map<Value, Value>();
  if (dy) {
    if (!sameShape(dy, y) || dy.dtype !== y.dtype) throw new Error(`gradients: dy ${dy} does not match y ${y}`);
    grads.set(y, dy);
  } else {
    if (!y.shape.every((d) => d === 1)) throw new Error(`gradients: y ${y} is not a scalar; pass dy`);
    grads.set(y, graph.constant(y.dtype, 1, y.shape as number[]));
  }

  for (let k = active.length - 1; k >= 0; k--) {
    const node = active[k];
    const dys = node.outputs.map((o) => grads.get(o) ?? null);
    if (dys.every((d) => d === null)) continue;
    const opName = node.op.name ?? node.op.type;
    if (!node.op.backward) throw new Error(`no gradient rule for op ${opName} (node ${node.name})`);
    const dxs = graph.scope(`grad/${node.name}`, () =>
      node.op.backward!({ graph, node, x: node.inputs, y: node.outputs, dy: dys, attrs: node.attrs }),
    );
    for (const i of differentiableInputs(node)) {
      const x = node.inputs[i]!;
      const dx = dxs[i];
      if (!dx || !reached.has(x)) continue;
      if (!sameShape(dx, x) || dx.dtype !== x.dtype) {
        throw new Error(`gradient rule of ${opName} gave ${dx} for input ${x} (node ${node.name})`);
      }
      const prev = grads.get(x);
      grads.set(x, prev ? graph.scope(`grad/${x.name}`, () => add(prev, dx)) : dx);
    }
  }

  const named = new Set<Value>();
  return wrt.map((w) => {
    const g = grads.get(w) ?? graph.scope(`grad/${w.name}`, () => zerosLike(w));
    const name = `grad/${w.name}`;
    if (g.kind === 'node' && !named.has(g) && !graph.outputs.includes(g) && !graph.has(name)) {
      graph.rename(g, name);
      named.add(g);
    }
    return g;
  });
}
