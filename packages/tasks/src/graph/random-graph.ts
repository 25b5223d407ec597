import { MannError, checkInteger } from '@mann/core';
import type { Rng } from '@mann/core';

/** A directed, labelled edge between node indices. */
export interface GraphEdge {
  readonly from: number;
  readonly to: number;
  /** Edge label: 0..k-1 for graph edges; relation labels (inference) are k and above. */
  readonly label: number;
}

/**
 * A random graph as in the DNC paper's graph tasks: nodes are points in the unit square, each
 * with directed edges to its k nearest neighbours (Euclidean). The k out-edges of a node carry
 * the labels 0..k-1 in random order, so every label sequence can be followed from every node.
 * Nodes have random distinct labels (the numbers the model sees), independent of their index.
 */
export interface RandomGraph {
  /** Number of nodes n; nodes are indexed 0..n-1. */
  readonly nodes: number;
  /** Out-degree k = number of edge labels. */
  readonly neighbours: number;
  /** [n] the label shown for each node, distinct, in [0, labelCount). */
  readonly labels: readonly number[];
  /** [n] (x, y) in the unit square. */
  readonly positions: readonly (readonly [number, number])[];
  /** n * k edges, grouped by source node. */
  readonly edges: readonly GraphEdge[];
}

/**
 * Draws a {@link RandomGraph} of `nodes` nodes, out-degree `neighbours`, node labels drawn
 * without replacement from [0, labelCount).
 */
export function randomGraph(
  rng: Rng,
  nodes: number,
  neighbours: number,
  labelCount: number,
): RandomGraph {
  checkInteger('nodes', nodes, 2);
  checkInteger('neighbours', neighbours, 1, nodes - 1);
  checkInteger('labelCount', labelCount, nodes);
  const positions = Array.from({ length: nodes }, () => [rng.uniform(), rng.uniform()] as const);
  const labels = sampleDistinct(rng, nodes, labelCount);
  const edges: GraphEdge[] = [];
  for (let from = 0; from < nodes; from++) {
    const [x, y] = positions[from] as readonly [number, number];
    const nearest = positions
      .map(([px, py], to) => ({ to, distance: (px - x) ** 2 + (py - y) ** 2 }))
      .filter((c) => c.to !== from)
      .sort((a, b) => a.distance - b.distance || a.to - b.to)
      .slice(0, neighbours);
    const edgeLabels = rng.shuffle(Array.from({ length: neighbours }, (_, i) => i));
    nearest.forEach(({ to }, i) => edges.push({ from, to, label: edgeLabels[i] as number }));
  }
  return { nodes, neighbours, labels, positions, edges };
}

/** `count` distinct integers from [0, range), in random order (partial Fisher-Yates). */
function sampleDistinct(rng: Rng, count: number, range: number): number[] {
  const swapped = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = rng.int(i, range - 1);
    const atJ = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out.push(atJ);
  }
  return out;
}

/** The node reached from `node` along the edge labelled `label`, or -1 if there is none. */
export function followEdge(graph: RandomGraph, node: number, label: number): number {
  for (const edge of graph.edges) {
    if (edge.from === node && edge.label === label) return edge.to;
  }
  return -1;
}

/** The edge from `from` to `to`, if any. */
export function findEdge(graph: RandomGraph, from: number, to: number): GraphEdge | undefined {
  return graph.edges.find((e) => e.from === from && e.to === to);
}

/** [n] hop distances from `source` by breadth-first search; -1 for unreachable nodes. */
export function bfsDistances(graph: RandomGraph, source: number): Int32Array {
  const distance = new Int32Array(graph.nodes).fill(-1);
  distance[source] = 0;
  const queue = [source];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as number;
    for (const edge of graph.edges) {
      if (edge.from === node && distance[edge.to] === -1) {
        distance[edge.to] = (distance[node] as number) + 1;
        queue.push(edge.to);
      }
    }
  }
  return distance;
}

/**
 * A shortest path from `source` to `target` as its edges, choosing uniformly among the
 * predecessors on shortest paths at each step back from `target` (so ties are broken at random).
 *
 * @throws MannError when `target` is unreachable.
 */
export function randomShortestPath(
  graph: RandomGraph,
  source: number,
  target: number,
  rng: Rng,
): GraphEdge[] {
  const distance = bfsDistances(graph, source);
  if ((distance[target] as number) < 0) {
    throw new MannError(`node ${target} is not reachable from node ${source}`);
  }
  const path: GraphEdge[] = [];
  let node = target;
  while (node !== source) {
    const here = distance[node] as number;
    const options = graph.edges.filter((e) => e.to === node && distance[e.from] === here - 1);
    const edge = options[rng.int(0, options.length - 1)] as GraphEdge;
    path.push(edge);
    node = edge.from;
  }
  return path.reverse();
}
