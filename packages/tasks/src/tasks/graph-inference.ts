import { DEFAULT_GRAPH_PARAMS, GRAPH_PARAM_SPECS, defineGraphTask } from '../graph/graph-task.js';
import type { GraphBatch, GraphParams } from '../graph/graph-task.js';
import { followEdge } from '../graph/random-graph.js';
import { intParam } from '../params.js';
import type { TaskDefinition } from '../task.js';

/** Parameters of relation inference: {@link GraphParams} plus the chain length. */
export interface GraphInferenceParams extends GraphParams {
  /** Edges aliased by one relation. Default 2 (k^2 relations, like "a parent's sibling"). */
  readonly chainLength: number;
}

/** Small graphs (5..10 nodes, k = 3), relations aliasing 2-edge chains (9 relations). */
export const DEFAULT_GRAPH_INFERENCE_PARAMS: GraphInferenceParams = {
  ...DEFAULT_GRAPH_PARAMS,
  chainLength: 2,
};

/**
 * The edge labels that relation `relation` (0-based, shown as label k + relation) aliases: the
 * base-k digits of `relation`, most significant first, `chainLength` of them. So with k = 3 and
 * chains of 2, relation 5 (label 8) means "follow label 1, then label 2".
 */
export function relationChain(relation: number, neighbours: number, chainLength: number): number[] {
  const chain: number[] = [];
  let rest = relation;
  for (let i = 0; i < chainLength; i++) {
    chain.unshift(rest % neighbours);
    rest = Math.floor(rest / neighbours);
  }
  return chain;
}

/**
 * Relation inference (after the DNC paper's family-tree inference): answer a relation that
 * aliases a chain of edges, which never appears in the graph description.
 *
 * There are k^chainLength relations, one per chain of edge labels ({@link relationChain}),
 * shown with labels k .. k + k^chainLength - 1 (fixed across sequences, so they can be learned).
 * After the graph description, one query step (source, relation, _) with the query flag; after
 * `planningSteps` blank steps, one answer step with target (source, relation, destination), the
 * node reached by following the chain. Generalisation variants: `nodes-20`, `nodes-50`.
 */
export const graphInferenceTask: TaskDefinition<GraphInferenceParams, GraphBatch> =
  defineGraphTask<GraphInferenceParams>({
    name: 'graph-inference',
    description: 'Relation inference: resolve a relation that aliases a chain of edges (DNC paper)',
    defaults: DEFAULT_GRAPH_INFERENCE_PARAMS,
    paramSpecs: {
      ...GRAPH_PARAM_SPECS,
      chainLength: intParam(2, 8, 'edges aliased by one relation'),
    },
    variants: {
      'nodes-20': { minNodes: 20, maxNodes: 20 },
      'nodes-50': { minNodes: 50, maxNodes: 50 },
    },
    maxEdgeLabel: (params) => params.neighbours + params.neighbours ** params.chainLength - 1,
    episode(params, graph, rng) {
      const k = graph.neighbours;
      const source = rng.int(0, graph.nodes - 1);
      const relation = rng.int(0, k ** params.chainLength - 1);
      let node = source;
      for (const label of relationChain(relation, k, params.chainLength)) {
        node = followEdge(graph, node, label);
      }
      return {
        query: [{ source, edge: k + relation }],
        answer: [{ from: source, to: node, label: k + relation }],
      };
    },
  });
