import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, selectBackend } from '@mann/core';
import type { BackendName } from '@mann/core';
import { maxAbsDifference, withBackend } from '@mann/core/testing';
import { dncCell, DncCell, dncLayer } from '@mann/dnc';
import type { DncCellArgs } from '@mann/dnc';

// dncCell in tf.layers.rnn against dncLayer (which the layer tests hold to the model itself):
// values and gradients on cpu and wasm, stackedRNNCells training, serialisation, errors.

const FEATURES = 3;
const TOLERANCE = 1e-5;
const tiny: DncCellArgs = {
  units: 2,
  controller: { kind: 'lstm', hiddenSizes: [6] },
  memorySlots: 5,
  memoryWidth: 3,
  readHeads: 2,
  seed: 7,
};

beforeAll(async () => {
  await selectBackend();
});

function input(batch: number, steps: number): tf.Tensor3D {
  const rng = new Rng(1);
  const values = Float32Array.from({ length: batch * steps * FEATURES }, () =>
    rng.uniformIn(-1, 1),
  );
  return tf.tensor3d(values, [batch, steps, FEATURES]);
}

function weighted(outputs: tf.Tensor): tf.Scalar {
  return tf.sum(tf.mul(outputs, tf.linspace(-1, 1, outputs.size).reshape(outputs.shape)));
}

/** Gradients by parameter name (the weight's name after its layer's or cell's scope). */
function gradients(layer: tf.layers.Layer, run: () => tf.Tensor): Record<string, Float32Array> {
  const weights = layer.trainableWeights;
  const { grads } = tf.variableGrads(
    () => weighted(run()),
    weights.map((w) => w.read() as tf.Variable),
  );
  return Object.fromEntries(
    weights.map((w) => [
      w.originalName.slice(w.originalName.search(/(controller|memory|interface|output)\//)),
      grads[w.name]?.dataSync().slice() as Float32Array,
    ]),
  );
}

describe('dncCell', () => {
  for (const backend of ['cpu', 'wasm'] as BackendName[]) {
    for (const implementation of ['fused', 'composed'] as const) {
      it(`in tf.layers.rnn gives the layer's outputs and gradients (${implementation}, ${backend})`, async () => {
        await withBackend(backend, () => {
          const x = input(2, 4);
          const cell = dncCell({ ...tiny, implementation });
          const rnn = tf.layers.rnn({ cell, returnSequences: true });
          const layer = dncLayer({ ...tiny, implementation, returnSequences: true });
          const viaCell = rnn.apply(x) as tf.Tensor;
          const viaLayer = layer.apply(x) as tf.Tensor;
          expect(viaCell.shape).toEqual([2, 4, 2]);
          expect(maxAbsDifference(viaCell.dataSync(), viaLayer.dataSync())).toBeLessThanOrEqual(
            TOLERANCE,
          );
          const a = gradients(rnn, () => rnn.apply(x) as tf.Tensor);
          const b = gradients(layer, () => layer.apply(x) as tf.Tensor);
          expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
          for (const [name, g] of Object.entries(b)) {
            const scale = Math.max(1, ...Array.from(g, Math.abs));
            expect(maxAbsDifference(a[name] as Float32Array, g), name).toBeLessThanOrEqual(
              TOLERANCE * scale,
            );
          }
        });
      });
    }
  }

  it('has 2-D states: the output first, then the flattened model state', () => {
    const cell = dncCell({ ...tiny });
    const layer = dncLayer({ ...tiny });
    layer.apply(input(1, 1));
    expect(cell.stateSize).toEqual([
      2,
      ...layer.stateShapes.map((s) => s.reduce((a, b) => a * b, 1)),
    ]);
  });

  it('stacks with stackedRNNCells, trains by model.fit and survives save/load', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.rnn({
          cell: tf.layers.stackedRNNCells({
            cells: [dncCell({ ...tiny, units: 4 }), dncCell({ ...tiny, seed: 8 })],
          }),
          returnSequences: true,
          inputShape: [null, FEATURES],
        }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(1e-2), loss: 'meanSquaredError' });
    const x = input(4, 3);
    const y = tf.onesLike(tf.zeros([4, 3, 2]));
    const history = await model.fit(x, y, { epochs: 4, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses.at(-1)).toBeLessThan(losses[0] as number);
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((model.predict(x) as tf.Tensor).dataSync()),
    );
    const json = JSON.stringify(saved?.modelTopology);
    expect(json).toContain('DncCell');
  });

  it('rejects sequence options and bad fields, naming them', () => {
    expect(() => dncCell({ ...tiny, returnSequences: true } as DncCellArgs)).toThrow(
      /returnSequences/,
    );
    expect(() => dncCell({ ...tiny, units: 0 })).toThrow(/units/);
    expect(() => dncCell({ ...tiny, memoryWidth: 0 })).toThrow(/memoryWidth/);
    expect(new DncCell({ ...tiny }).getClassName()).toBe('DncCell');
  });
});
