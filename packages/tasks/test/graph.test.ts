import { describe, expect, it } from 'vitest';
import { Rng } from '@mann/core';
import {
  bfsDistances,
  createTask,
  decodeAnswer,
  decodeTriple,
  encodeTriple,
  findEdge,
  followEdge,
  isShortestPath,
  randomGraph,
  randomShortestPath,
  relationChain,
  tripleWidth,
} from '../src/index.js';
import type { GraphBatch, GraphEpisode, RandomGraph } from '../src/index.js';
import { answerSteps, inputAt, targetAt } from './helpers.js';

/** Decodes every answer triple of sequence b from the targets. */
function targetAnswer(batch: GraphBatch, b: number) {
  return decodeAnswer(batch.targets, batch, b);
}

/** The input's (source, edge, destination) labels at a step, decoded. */
function inputTriple(batch: GraphBatch, b: number, t: number) {
  return decodeTriple(inputAt(batch, b, t), 0, 2);
}

describe('random graphs', () => {
  it('connects every node to its k nearest neighbours with labels 0..k-1', () => {
    const graph = randomGraph(new Rng(61), 12, 3, 100);
    expect(graph.edges.length).toBe(36);
    expect(new Set(graph.labels).size).toBe(12);
    for (let node = 0; node < 12; node++) {
      const out = graph.edges.filter((e) => e.from === node);
      expect(out.map((e) => e.label).sort()).toEqual([0, 1, 2]);
      const [x, y] = graph.positions[node]!;
      const byDistance = graph.positions
        .map(([px, py], i) => ({ i, d: (px - x) ** 2 + (py - y) ** 2 }))
        .filter((c) => c.i !== node)
        .sort((a, b) => a.d - b.d);
      expect(out.map((e) => e.to).sort()).toEqual(
        byDistance
          .slice(0, 3)
          .map((c) => c.i)
          .sort(),
      );
    }
  });

  it('finds BFS distances and random shortest paths of that length', () => {
    const rng = new Rng(62);
    const graph = randomGraph(rng, 15, 2, 100);
    const distance = bfsDistances(graph, 0);
    expect(distance[0]).toBe(0);
    distance.forEach((d, target) => {
      if (d <= 0) return;
      const path = randomShortestPath(graph, 0, target, rng);
      expect(path.length).toBe(d);
      expect(path[0]!.from).toBe(0);
      expect(path[path.length - 1]!.to).toBe(target);
      path.forEach((e, i) => {
        expect(findEdge(graph, e.from, e.to)?.label).toBe(e.label);
        if (i > 0) expect(e.from).toBe(path[i - 1]!.to);
      });
    });
  });

  it('encodes labels as one-hot digits and decodes them back', () => {
    const out = new Float32Array(tripleWidth(2));
    encodeTriple(out, 0, { source: 47, edge: 3, destination: null }, 2);
    expect([...out.keys()].filter((i) => out[i] === 1)).toEqual([4, 17, 20, 33]); // 47 -> "4","7"; 3 -> "0","3"
    expect(decodeTriple(out, 0, 2)).toEqual({ source: 47, edge: 3, destination: 0 });
  });
});

/** Checks the description phase: every graph edge once, as (label, edge, label) triples. */
function expectDescription(batch: GraphBatch, b: number, episode: GraphEpisode): number {
  const { graph } = episode;
  const shown = new Set<string>();
  for (let t = 0; t < graph.edges.length; t++) {
    const triple = inputTriple(batch, b, t);
    shown.add(`${triple.source}-${triple.edge}-${triple.destination}`);
    expect(inputAt(batch, b, t).slice(60)).toEqual([0, 0]);
  }
  const expected = graph.edges.map(
    (e) => `${graph.labels[e.from]}-${e.label}-${graph.labels[e.to]}`,
  );
  expect(shown).toEqual(new Set(expected));
  return graph.edges.length;
}

function nodeOf(graph: RandomGraph, label: number | null): number {
  return graph.labels.indexOf(label as number);
}

describe('graph-traversal', () => {
  const task = createTask('graph-traversal');

  it('has triple-wide outputs and two flag channels on the inputs', () => {
    expect([task.inputWidth, task.outputWidth]).toEqual([62, 60]);
  });

  it('answers with the real path that follows the query labels from the start node', () => {
    const batch = task.sample(new Rng(63), 12);
    batch.episodes.forEach((episode, b) => {
      const { graph } = episode;
      const queryStart = expectDescription(batch, b, episode);
      const hops = episode.answer.length;
      const start = inputTriple(batch, b, queryStart);
      let node = nodeOf(graph, start.source);
      expect(node).toBeGreaterThanOrEqual(0);
      const answer = targetAnswer(batch, b);
      for (let i = 0; i < hops; i++) {
        const query = inputAt(batch, b, queryStart + i);
        expect(query.slice(60)).toEqual([1, 0]);
        if (i > 0) expect(query.slice(0, 20).every((v) => v === 0)).toBe(true);
        const label = inputTriple(batch, b, queryStart + i).edge as number;
        const next = followEdge(graph, node, label);
        expect(answer[i]).toEqual({ from: node, label, to: next });
        node = next;
      }
      expect(answerSteps(batch, b)).toEqual(
        Array.from({ length: hops }, (_, i) => queryStart + hops + i),
      );
      for (const t of answerSteps(batch, b)) expect(inputAt(batch, b, t).slice(60)).toEqual([0, 1]);
    });
  });

  it('counts a decoded answer as right only when every triple is', () => {
    const batch = task.sample(new Rng(64), 6);
    const outputs = Float32Array.from(batch.targets);
    expect(task.score(outputs, batch).answerAccuracy).toBe(1);
    // Move the destination of sequence 0's first answer to another node label.
    const { graph } = batch.episodes[0]!;
    const step = batch.answerStarts[0]!;
    const offset = (0 * batch.steps + step) * 60 + 40;
    outputs.fill(0, offset, offset + 20);
    const other = graph.labels.find((l) => l !== graph.labels[batch.episodes[0]!.answer[0]!.to])!;
    encodeTriple(outputs, offset - 40, { source: null, edge: null, destination: other }, 2);
    expect(task.score(outputs, batch).answerAccuracy).toBeCloseTo(5 / 6, 12);
    // One wrong step among all answer steps of the batch.
    const steps = batch.episodes.reduce((n, e) => n + e.answer.length, 0);
    expect(task.score(outputs, batch).answerStepAccuracy).toBeCloseTo(1 - 1 / steps, 12);
    expect(task.score(Float32Array.from(batch.targets), batch).answerStepAccuracy).toBe(1);
  });
});

describe('graph-shortest-path', () => {
  const task = createTask('graph-shortest-path');

  it('answers with a real path whose length is the BFS distance', () => {
    const batch = task.sample(new Rng(65), 16);
    batch.episodes.forEach((episode, b) => {
      const { graph } = episode;
      const queryStep = expectDescription(batch, b, episode);
      const query = inputTriple(batch, b, queryStep);
      expect(
        inputAt(batch, b, queryStep)
          .slice(20, 40)
          .every((v) => v === 0),
      ).toBe(true);
      const source = nodeOf(graph, query.source);
      const destination = nodeOf(graph, query.destination);
      const distance = bfsDistances(graph, source)[destination]!;
      expect(distance).toBeGreaterThanOrEqual(1);
      expect(distance).toBeLessThanOrEqual(4);
      const path = targetAnswer(batch, b);
      expect(path.length).toBe(distance);
      expect(answerSteps(batch, b).length).toBe(distance);
      expect(isShortestPath(episode, path)).toBe(true);
    });
  });

  it('accepts any shortest path and rejects longer or broken ones', () => {
    // A 4-cycle with both directions: 0 -> 2 has two shortest paths (via 1 or via 3).
    const edges = [
      { from: 0, to: 1, label: 0 },
      { from: 0, to: 3, label: 1 },
      { from: 1, to: 2, label: 0 },
      { from: 1, to: 0, label: 1 },
      { from: 2, to: 3, label: 0 },
      { from: 2, to: 1, label: 1 },
      { from: 3, to: 0, label: 0 },
      { from: 3, to: 2, label: 1 },
    ];
    const graph: RandomGraph = {
      nodes: 4,
      neighbours: 2,
      labels: [10, 11, 12, 13],
      positions: [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ],
      edges,
    };
    const episode: GraphEpisode = { graph, query: [{ source: 0, destination: 2 }], answer: [] };
    expect(isShortestPath(episode, [edges[0]!, edges[2]!])).toBe(true);
    expect(isShortestPath(episode, [edges[1]!, edges[7]!])).toBe(true);
    expect(isShortestPath(episode, [edges[0]!, edges[3]!])).toBe(false); // ends at 0
    expect(isShortestPath(episode, [{ ...edges[0]!, label: 1 }, edges[2]!])).toBe(false);
    expect(isShortestPath(episode, [edges[0]!])).toBe(false);
  });

  it('scores another shortest path as a right answer', () => {
    const batch = task.sample(new Rng(66), 40);
    // Find a sequence whose query has two shortest paths, and answer with the other one.
    const rng = new Rng(1);
    for (let b = 0; b < batch.batchSize; b++) {
      const episode = batch.episodes[b]!;
      const { source, destination } = episode.query[0]!;
      const target = episode.answer.map((e) => `${e.from}>${e.to}`).join();
      for (let tries = 0; tries < 20; tries++) {
        const other = randomShortestPath(episode.graph, source!, destination!, rng);
        if (other.map((e) => `${e.from}>${e.to}`).join() === target) continue;
        const outputs = Float32Array.from(batch.targets);
        const start = batch.answerStarts[b]!;
        other.forEach((edge, i) => {
          const offset = (b * batch.steps + start + i) * 60;
          outputs.fill(0, offset, offset + 60);
          const { labels } = episode.graph;
          encodeTriple(
            outputs,
            offset,
            { source: labels[edge.from]!, edge: edge.label, destination: labels[edge.to]! },
            2,
          );
        });
        const scores = task.score(outputs, batch);
        expect(scores.answerAccuracy).toBe(1);
        expect(scores.sequenceAccuracy).toBeLessThan(1);
        return;
      }
    }
    throw new Error('no query with two shortest paths in 40 graphs');
  });

  it('finds queries in the large-graph, long-path variant', () => {
    const batch = task.variant('nodes-40-path-6').sample(new Rng(67), 3);
    for (const episode of batch.episodes) expect(episode.answer.length).toBe(6);
  });
});

describe('graph-inference', () => {
  const task = createTask('graph-inference');

  it('maps relations to base-k chains of edge labels', () => {
    expect(relationChain(5, 3, 2)).toEqual([1, 2]);
    expect(relationChain(0, 3, 2)).toEqual([0, 0]);
    expect(relationChain(26, 3, 3)).toEqual([2, 2, 2]);
  });

  it('answers (source, relation, node reached by the aliased chain)', () => {
    const batch = task.sample(new Rng(68), 12);
    const relations = new Set<number>();
    batch.episodes.forEach((episode, b) => {
      const { graph } = episode;
      const queryStep = expectDescription(batch, b, episode);
      const query = inputTriple(batch, b, queryStep);
      const relation = query.edge as number;
      relations.add(relation);
      expect(relation).toBeGreaterThanOrEqual(3);
      expect(relation).toBeLessThan(12);
      let node = nodeOf(graph, query.source);
      const source = node;
      for (const label of relationChain(relation - 3, 3, 2)) node = followEdge(graph, node, label);
      expect(targetAnswer(batch, b)).toEqual([{ from: source, label: relation, to: node }]);
      expect(answerSteps(batch, b)).toEqual([queryStep + 1]);
      expect(targetAt(batch, b, queryStep + 1).reduce((a, v) => a + v, 0)).toBe(6);
    });
    expect(relations.size).toBeGreaterThan(3);
  });

  it('inserts planning steps between query and answer', () => {
    const planned = createTask('graph-inference', { planningSteps: 3 });
    const batch = planned.sample(new Rng(69), 2);
    batch.episodes.forEach((episode, b) => {
      const queryStep = episode.graph.edges.length;
      for (let t = queryStep + 1; t <= queryStep + 3; t++) {
        expect(inputAt(batch, b, t).every((v) => v === 0)).toBe(true);
      }
      expect(answerSteps(batch, b)).toEqual([queryStep + 4]);
    });
  });

  it('checks that labels fit in labelDigits and k < nodes', () => {
    expect(() => createTask('graph-inference', { labelDigits: 1 })).toThrow(
      /edge labels go up to 11, more than labelDigits = 1 can show/,
    );
    expect(() => createTask('graph-traversal', { labelDigits: 1, maxNodes: 11 })).toThrow(
      /maxNodes \(11\) needs more than labelDigits = 1/,
    );
    expect(() => createTask('graph-traversal', { neighbours: 5 })).toThrow(
      /neighbours \(5\) must be < minNodes \(5\)/,
    );
  });

  it('refuses to score a batch without episodes', () => {
    const batch = task.sample(new Rng(70), 1);
    const { episodes: _drop, ...plain } = batch;
    expect(() => task.score(batch.targets, plain as GraphBatch)).toThrow(
      /scores only batches it sampled/,
    );
  });
});
