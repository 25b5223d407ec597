import { checkOrdered } from '../batch.js';
import { DEFAULT_GRAPH_PARAMS, GRAPH_PARAM_SPECS, defineGraphTask } from '../graph/graph-task.js';
import type { GraphBatch, GraphParams, QueryStep } from '../graph/graph-task.js';
import { followEdge } from '../graph/random-graph.js';
import type { GraphEdge } from '../graph/random-graph.js';
import { intParam } from '../params.js';
import type { TaskDefinition } from '../task.js';

/** Parameters of graph traversal: {@link GraphParams} plus the path length. */
export interface GraphTraversalParams extends GraphParams {
  /** Fewest edges to follow. Default 1. */
  readonly minPath: number;
  /** Most edges to follow; hops ~ U{minPath..maxPath}. Default 4. */
  readonly maxPath: number;
}

/** Small graphs (5..10 nodes, k = 3), paths of 1..4 edges. */
export const DEFAULT_GRAPH_TRAVERSAL_PARAMS: GraphTraversalParams = {
  ...DEFAULT_GRAPH_PARAMS,
  minPath: 1,
  maxPath: 4,
};

/**
 * Graph traversal (DNC paper): follow a sequence of edge labels from a start node.
 *
 * After the graph description (every edge as a (source, label, destination) triple, shuffled),
 * the query lists the path: step 1 is (start, label_1, _), then (_, label_i, _) for each further
 * hop, all with the query flag. After `planningSteps` blank steps, each answer step (answer flag
 * set) has target (node_{i-1}, label_i, node_i), the hops in order. Labels are uniform over
 * 0..k-1, so every path exists. See the README for the channel layout.
 * Generalisation variants: `nodes-20`, `nodes-50` (larger graphs), `path-8` (8 hops).
 */
export const graphTraversalTask: TaskDefinition<GraphTraversalParams, GraphBatch> =
  defineGraphTask<GraphTraversalParams>({
    name: 'graph-traversal',
    description: 'Graph traversal: follow a path of edge labels from a start node (DNC paper)',
    defaults: DEFAULT_GRAPH_TRAVERSAL_PARAMS,
    paramSpecs: {
      ...GRAPH_PARAM_SPECS,
      minPath: intParam(1, 1000, 'fewest edges to follow'),
      maxPath: intParam(1, 1000, 'most edges to follow'),
    },
    variants: {
      'nodes-20': { minNodes: 20, maxNodes: 20 },
      'nodes-50': { minNodes: 50, maxNodes: 50 },
      'path-8': { minPath: 8, maxPath: 8 },
    },
    maxEdgeLabel: (params) => params.neighbours - 1,
    check(params) {
      checkOrdered('graph-traversal', 'minPath', params.minPath, 'maxPath', params.maxPath);
    },
    episode(params, graph, rng) {
      const hops = rng.int(params.minPath, params.maxPath);
      let node = rng.int(0, graph.nodes - 1);
      const query: QueryStep[] = [];
      const answer: GraphEdge[] = [];
      for (let i = 0; i < hops; i++) {
        const label = rng.int(0, graph.neighbours - 1);
        query.push(i === 0 ? { source: node, edge: label } : { edge: label });
        const next = followEdge(graph, node, label);
        answer.push({ from: node, to: next, label });
        node = next;
      }
      return { query, answer };
    },
  });
