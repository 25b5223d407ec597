import { checkOrdered } from '../batch.js';
import { DEFAULT_GRAPH_PARAMS, GRAPH_PARAM_SPECS, defineGraphTask } from '../graph/graph-task.js';
import type { DecodedEdge, GraphBatch, GraphEpisode, GraphParams } from '../graph/graph-task.js';
import { bfsDistances, findEdge, randomShortestPath } from '../graph/random-graph.js';
import { intParam } from '../params.js';
import type { TaskDefinition } from '../task.js';

/** Parameters of shortest path: {@link GraphParams} plus the distance range. */
export interface GraphShortestPathParams extends GraphParams {
  /** Shortest distance (hops) between the query nodes. Default 1. */
  readonly minPath: number;
  /** Longest distance; the target is uniform over nodes at a distance in range. Default 4. */
  readonly maxPath: number;
}

/** Small graphs (5..10 nodes, k = 3), distances 1..4. */
export const DEFAULT_GRAPH_SHORTEST_PATH_PARAMS: GraphShortestPathParams = {
  ...DEFAULT_GRAPH_PARAMS,
  minPath: 1,
  maxPath: 4,
};

/**
 * Whether `path` is a shortest path in `episode.graph` from the query's source to its destination:
 * it starts at the source, each triple is an edge of the graph with its label, consecutive triples
 * chain, it ends at the destination, and it has as many edges as the BFS distance.
 */
export function isShortestPath(episode: GraphEpisode, path: readonly DecodedEdge[]): boolean {
  const query = episode.query[0];
  if (query?.source === undefined || query.destination === undefined) return false;
  const distance = bfsDistances(episode.graph, query.source)[query.destination] as number;
  if (path.length !== distance) return false;
  let node = query.source;
  for (const step of path) {
    const edge = findEdge(episode.graph, step.from, step.to);
    if (step.from !== node || !edge || edge.label !== step.label) return false;
    node = step.to;
  }
  return node === query.destination;
}

/**
 * Shortest path (DNC paper): list the edges of a shortest path between two nodes.
 *
 * After the graph description, one query step (source, _, destination) with the query flag;
 * after `planningSteps` blank steps, one answer step per edge of a shortest path (found by BFS,
 * ties broken at random), target (node_{i-1}, label_i, node_i). The number of answer steps equals
 * the BFS distance. Because several shortest paths may exist, `answerAccuracy` accepts any
 * shortest path ({@link isShortestPath}); the cost and bit errors compare with the drawn one.
 * Generalisation variants: `nodes-20`, `nodes-40-path-6` (distance exactly 6).
 */
export const graphShortestPathTask: TaskDefinition<GraphShortestPathParams, GraphBatch> =
  defineGraphTask<GraphShortestPathParams>({
    name: 'graph-shortest-path',
    description: 'Shortest path: list the edges of a shortest path between two nodes (DNC paper)',
    defaults: DEFAULT_GRAPH_SHORTEST_PATH_PARAMS,
    paramSpecs: {
      ...GRAPH_PARAM_SPECS,
      minPath: intParam(1, 1000, 'shortest distance between the query nodes'),
      maxPath: intParam(1, 1000, 'longest distance between the query nodes'),
    },
    variants: {
      'nodes-20': { minNodes: 20, maxNodes: 20 },
      'nodes-40-path-6': { minNodes: 40, maxNodes: 40, minPath: 6, maxPath: 6 },
    },
    maxEdgeLabel: (params) => params.neighbours - 1,
    check(params) {
      checkOrdered('graph-shortest-path', 'minPath', params.minPath, 'maxPath', params.maxPath);
    },
    episode(params, graph, rng) {
      const sources = rng.shuffle(Array.from({ length: graph.nodes }, (_, i) => i));
      for (const source of sources) {
        const distance = bfsDistances(graph, source);
        const targets: number[] = [];
        distance.forEach((d, node) => {
          if (d >= params.minPath && d <= params.maxPath) targets.push(node);
        });
        if (targets.length === 0) continue;
        const destination = targets[rng.int(0, targets.length - 1)] as number;
        return {
          query: [{ source, destination }],
          answer: randomShortestPath(graph, source, destination, rng),
        };
      }
      return null;
    },
    isCorrect: isShortestPath,
  });
