import { MannError } from '@mann/core';
import type { Rng, SequenceBatch } from '@mann/core';
import { BatchWriter, checkOrdered, maxOf } from '../batch.js';
import { intParam } from '../params.js';
import type { ParamSpecs } from '../params.js';
import { defineTask } from '../task.js';
import type { TaskDefinition } from '../task.js';
import {
  DIGIT_BASE,
  GRAPH_FLAG_CHANNELS,
  decodeTriple,
  encodeTriple,
  tripleWidth,
} from './encoding.js';
import type { Triple } from './encoding.js';
import { randomGraph } from './random-graph.js';
import type { GraphEdge, RandomGraph } from './random-graph.js';

/** Parameters shared by the graph tasks. */
export interface GraphParams {
  /** Fewest nodes n. Default 5. */
  readonly minNodes: number;
  /** Most nodes; n ~ U{minNodes..maxNodes}. Default 10. */
  readonly maxNodes: number;
  /** Out-degree k (edges to the k nearest neighbours, labelled 0..k-1). Default 3. */
  readonly neighbours: number;
  /** Decimal digits per label (node labels are drawn from [0, 10^digits)). Default 2. */
  readonly labelDigits: number;
  /** Blank steps between the query and the answer (the DNC paper gave 10 for shortest path). Default 0. */
  readonly planningSteps: number;
}

/** Small graphs for fast tests and training on a CPU; raise them for paper-like sizes. */
export const DEFAULT_GRAPH_PARAMS: GraphParams = {
  minNodes: 5,
  maxNodes: 10,
  neighbours: 3,
  labelDigits: 2,
  planningSteps: 0,
};

/** Specs of {@link GraphParams}. */
export const GRAPH_PARAM_SPECS: ParamSpecs<GraphParams> = {
  minNodes: intParam(2, 10_000, 'fewest nodes'),
  maxNodes: intParam(2, 10_000, 'most nodes'),
  neighbours: intParam(1, 9, 'out-degree k: edges to the k nearest neighbours, labelled 0..k-1'),
  labelDigits: intParam(1, 4, 'decimal digits per label (one-hot, 10 channels each)'),
  planningSteps: intParam(0, 1000, 'blank steps between query and answer'),
};

/** One query step in node indices; a missing field is blank. */
export interface QueryStep {
  readonly source?: number;
  readonly edge?: number;
  readonly destination?: number;
}

/** One sequence of a graph task: the graph, the query and the answer (in node indices). */
export interface GraphEpisode {
  readonly graph: RandomGraph;
  readonly query: readonly QueryStep[];
  /** The target triples; for inference the label is a relation label. */
  readonly answer: readonly GraphEdge[];
}

/** A graph-task batch: the arrays plus each sequence's episode, so answers can be checked. */
export interface GraphBatch extends SequenceBatch {
  readonly episodes: readonly GraphEpisode[];
  /** [B] the first answer step of each sequence. */
  readonly answerStarts: Int32Array;
}

/** A triple decoded from the outputs, mapped back to node indices (-1: no node has that label). */
export interface DecodedEdge {
  readonly from: number;
  readonly to: number;
  readonly label: number;
}

/** What a graph task adds to the shared machinery. */
export interface GraphTaskRecipe<P extends GraphParams> {
  readonly name: string;
  readonly description: string;
  readonly defaults: P;
  readonly paramSpecs: ParamSpecs<P>;
  readonly variants: Readonly<Record<string, Partial<P>>>;
  /** Largest edge or relation label used (must fit in labelDigits digits). */
  maxEdgeLabel(params: P): number;
  check?(params: P): void;
  /** A query and its answer on `graph`, or null if this graph has none (a new one is drawn). */
  episode(params: P, graph: RandomGraph, rng: Rng): Omit<GraphEpisode, 'graph'> | null;
  /** Whether the decoded answer is right (default: equal to the episode's answer). */
  isCorrect?(episode: GraphEpisode, decoded: readonly DecodedEdge[]): boolean;
}

/** Graphs drawn for one sequence before giving up on finding a query. */
const MAX_GRAPH_ATTEMPTS = 1000;

/**
 * Builds a graph task: shared params, encoding and sampling (see the README for the layout), with
 * the query and answer of `recipe`. Scores add `answerAccuracy`: the fraction of sequences whose
 * answer, decoded by argmax per digit, is correct; and, for tasks with one right answer per
 * step (no `isCorrect`), `answerStepAccuracy`: the fraction of answer steps decoded right.
 */
export function defineGraphTask<P extends GraphParams>(
  recipe: GraphTaskRecipe<P>,
): TaskDefinition<P, GraphBatch> {
  return defineTask<P, GraphBatch>({
    name: recipe.name,
    description: recipe.description,
    defaults: recipe.defaults,
    paramSpecs: recipe.paramSpecs,
    variants: recipe.variants,
    check(params) {
      checkOrdered(recipe.name, 'minNodes', params.minNodes, 'maxNodes', params.maxNodes);
      const labels = DIGIT_BASE ** params.labelDigits;
      if (params.maxNodes > labels) {
        throw new MannError(
          `${recipe.name}: maxNodes (${params.maxNodes}) needs more than labelDigits = ${params.labelDigits} (${labels} labels)`,
        );
      }
      if (params.neighbours >= params.minNodes) {
        throw new MannError(
          `${recipe.name}: neighbours (${params.neighbours}) must be < minNodes (${params.minNodes})`,
        );
      }
      const maxEdge = recipe.maxEdgeLabel(params);
      if (maxEdge >= labels) {
        throw new MannError(
          `${recipe.name}: edge labels go up to ${maxEdge}, more than labelDigits = ${params.labelDigits} can show (${labels} labels)`,
        );
      }
      recipe.check?.(params);
    },
    build: (params) => ({
      inputWidth: tripleWidth(params.labelDigits) + GRAPH_FLAG_CHANNELS,
      outputWidth: tripleWidth(params.labelDigits),
      sample: (rng, batchSize) => sampleGraphs(recipe, params, rng, batchSize),
      extraScores: (probabilities, batch) => ({
        answerAccuracy: answerAccuracy(recipe, probabilities, batch),
        ...(recipe.isCorrect
          ? {}
          : { answerStepAccuracy: answerStepAccuracy(recipe, probabilities, batch) }),
      }),
    }),
  });
}

function drawEpisode<P extends GraphParams>(
  recipe: GraphTaskRecipe<P>,
  params: P,
  rng: Rng,
): GraphEpisode {
  for (let attempt = 0; attempt < MAX_GRAPH_ATTEMPTS; attempt++) {
    const nodes = rng.int(params.minNodes, params.maxNodes);
    const graph = randomGraph(rng, nodes, params.neighbours, DIGIT_BASE ** params.labelDigits);
    const found = recipe.episode(params, graph, rng);
    if (found) return { graph, ...found };
  }
  throw new MannError(
    `${recipe.name}: no valid query in ${MAX_GRAPH_ATTEMPTS} random graphs; make the graphs larger or the paths shorter (params ${JSON.stringify(params)})`,
  );
}

function sampleGraphs<P extends GraphParams>(
  recipe: GraphTaskRecipe<P>,
  params: P,
  rng: Rng,
  batchSize: number,
): GraphBatch {
  const digits = params.labelDigits;
  const width = tripleWidth(digits);
  const episodes = Array.from({ length: batchSize }, () => drawEpisode(recipe, params, rng));
  const edgeOrders = episodes.map((e) => rng.shuffle([...e.graph.edges]));
  const lengths = episodes.map(
    (e) => e.graph.edges.length + e.query.length + params.planningSteps + e.answer.length,
  );
  const writer = new BatchWriter(batchSize, maxOf(lengths), width + GRAPH_FLAG_CHANNELS, width);
  const answerStarts = new Int32Array(batchSize);
  const label = (graph: RandomGraph, node: number | undefined): number | null =>
    node === undefined ? null : (graph.labels[node] as number);
  const edgeTriple = (graph: RandomGraph, edge: GraphEdge): Triple => ({
    source: label(graph, edge.from),
    edge: edge.label,
    destination: label(graph, edge.to),
  });
  episodes.forEach((episode, b) => {
    const { graph } = episode;
    const inputRow = (step: number): number => (b * writer.steps + step) * writer.inputWidth;
    let step = 0;
    for (const edge of edgeOrders[b] as GraphEdge[]) {
      encodeTriple(writer.inputs, inputRow(step++), edgeTriple(graph, edge), digits);
    }
    for (const q of episode.query) {
      const triple: Triple = {
        source: label(graph, q.source),
        edge: q.edge ?? null,
        destination: label(graph, q.destination),
      };
      encodeTriple(writer.inputs, inputRow(step), triple, digits);
      writer.input(b, step++, width);
    }
    step += params.planningSteps;
    answerStarts[b] = step;
    for (const edge of episode.answer) {
      const targetRow = (b * writer.steps + step) * width;
      encodeTriple(writer.targets, targetRow, edgeTriple(graph, edge), digits);
      writer.input(b, step, width + 1);
      writer.answer(b, step++);
    }
  });
  return { ...writer.build(), episodes, answerStarts };
}

/** Decodes sequence `b`'s answer steps from `probabilities` [B, T, O] into node indices. */
export function decodeAnswer(
  probabilities: Float32Array,
  batch: GraphBatch,
  b: number,
): DecodedEdge[] {
  const labelDigits = batch.outputWidth / (3 * DIGIT_BASE);
  const episode = batch.episodes[b] as GraphEpisode;
  const nodeOf = new Map(episode.graph.labels.map((l, node) => [l, node]));
  const start = batch.answerStarts[b] as number;
  return episode.answer.map((_, i) => {
    const t = decodeTriple(
      probabilities,
      (b * batch.steps + start + i) * batch.outputWidth,
      labelDigits,
    );
    return {
      from: nodeOf.get(t.source as number) ?? -1,
      label: t.edge as number,
      to: nodeOf.get(t.destination as number) ?? -1,
    };
  });
}

function answerAccuracy<P extends GraphParams>(
  recipe: GraphTaskRecipe<P>,
  probabilities: Float32Array,
  batch: GraphBatch,
): number {
  if (!Array.isArray(batch.episodes) || !(batch.answerStarts instanceof Int32Array)) {
    throw new MannError(`${recipe.name} scores only batches it sampled: batch.episodes is missing`);
  }
  let correct = 0;
  batch.episodes.forEach((episode, b) => {
    const decoded = decodeAnswer(probabilities, batch, b);
    const ok = recipe.isCorrect
      ? recipe.isCorrect(episode, decoded)
      : decoded.every((d, i) => sameEdge(d, episode.answer[i] as GraphEdge));
    if (ok) correct++;
  });
  return correct / batch.batchSize;
}

/**
 * The fraction of answer steps (edges of all sequences' answers) decoded right: the DNC paper's
 * per-step measure, for tasks with one right answer per step.
 */
function answerStepAccuracy<P extends GraphParams>(
  recipe: GraphTaskRecipe<P>,
  probabilities: Float32Array,
  batch: GraphBatch,
): number {
  if (!Array.isArray(batch.episodes) || !(batch.answerStarts instanceof Int32Array)) {
    throw new MannError(`${recipe.name} scores only batches it sampled: batch.episodes is missing`);
  }
  let steps = 0;
  let correct = 0;
  batch.episodes.forEach((episode, b) => {
    const decoded = decodeAnswer(probabilities, batch, b);
    episode.answer.forEach((edge: GraphEdge, i: number) => {
      steps++;
      const d = decoded[i];
      if (d && sameEdge(d, edge)) correct++;
    });
  });
  return steps === 0 ? 1 : correct / steps;
}

function sameEdge(a: DecodedEdge, b: GraphEdge): boolean {
  return a.from === b.from && a.to === b.to && a.label === b.label;
}
