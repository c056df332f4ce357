// A readable text dump of a Graph, one line per node the outputs depend on, for snapshot tests and debugging:
//   name: f32[B,T,C] = Op(input, input) {attr=value}
// Not a serializer (onnx.ts) and not a visualizer.

import type { Graph, Value } from './graph.ts';
import { type Attr, dtypeShort } from './types.ts';

const typed = (v: Value) => `${v.name}: ${dtypeShort(v.dtype)}[${v.shape.join(',')}]`;

function attrText(a: Attr): string {
  if (a.type === 'ints' || a.type === 'floats') return `[${a.value.join(',')}]`;
  if (a.type === 'string') return JSON.stringify(a.value);
  return String(a.value);
}

export function dumpGraph(graph: Graph): string {
  const lines = [`graph ${graph.name}`];
  for (const v of graph.inputs) lines.push(`  input ${typed(v)}`);
  for (const node of graph.live().nodes) {
    const attrs = Object.entries(node.attrs);
    const attrPart = attrs.length ? ` {${attrs.map(([k, a]) => `${k}=${attrText(a)}`).join(', ')}}` : '';
    const args = node.inputs.map((x) => (x ? x.name : '∅')).join(', ');
    lines.push(`  ${node.outputs.map(typed).join(', ')} = ${node.op.type}(${args})${attrPart}`);
  }
  for (const v of graph.outputs) lines.push(`  output ${typed(v)}`);
  return lines.join('\n') + '\n';
}
