import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MannError,
  Optimizer,
  type OptimizerConfig,
  type OptimizerImplementation,
  type OptimizerState,
  Rng,
  selectBackend,
} from '@mann/core';
import { withBackend } from '@mann/core/testing';
import { expectBitwiseEqual, expectClose } from './helpers.js';

beforeAll(async () => {
  await selectBackend();
});

const theta0 = { w: [0.5, -1, 2, 0.25], b: [0.1] };
const gradientSteps = [
  { w: [0.1, -0.2, 0.3, -0.4], b: [1.5] },
  { w: [-0.05, 0.4, 0.3, 0.2], b: [-0.5] },
];

function variables() {
  return {
    w: tf.variable(tf.tensor2d(theta0.w, [2, 2])),
    b: tf.variable(tf.tensor1d(theta0.b)),
  };
}

const grads = (g: { w: number[]; b: number[] }) => ({
  w: tf.tensor2d(g.w, [2, 2]),
  b: tf.tensor1d(g.b),
});

/** Adam as in Kingma & Ba, Algorithm 1, in float64. */
function adamOracle(
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  steps: number[][],
  x0: number[],
) {
  const x = [...x0];
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  steps.forEach((g, k) => {
    const t = k + 1;
    x.forEach((_, i) => {
      m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! ** 2;
      const mHat = m[i]! / (1 - beta1 ** t);
      const vHat = v[i]! / (1 - beta2 ** t);
      x[i] = x[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
    });
  });
  return { x, m, v };
}

/**
 * RMSProp with momentum, optionally centred (Graves 2013, eqs. 38-41), in float64; epsilon
 * inside the root, or outside it (as torch.optim.RMSprop).
 */
function rmspropOracle(
  lr: number,
  decay: number,
  momentum: number,
  centered: boolean,
  eps: number,
  steps: number[][],
  x0: number[],
  outsideRoot = false,
) {
  const x = [...x0];
  const n = x.map(() => 0);
  const mean = x.map(() => 0);
  const mom = x.map(() => 0);
  for (const g of steps) {
    x.forEach((_, i) => {
      n[i] = decay * n[i]! + (1 - decay) * g[i]! ** 2;
      mean[i] = decay * mean[i]! + (1 - decay) * g[i]!;
      const variance = n[i]! - (centered ? mean[i]! ** 2 : 0);
      const denominator = outsideRoot ? Math.sqrt(variance) + eps : Math.sqrt(variance + eps);
      mom[i] = momentum * mom[i]! + (lr * g[i]!) / denominator;
      x[i] = x[i]! - mom[i]!;
    });
  }
  return { x, n, mean, mom };
}

function run(config: OptimizerConfig, steps: number) {
  const optimizer = new Optimizer(config);
  const vars = variables();
  for (const g of gradientSteps.slice(0, steps)) optimizer.apply(vars, grads(g));
  return { optimizer, vars };
}

describe('Optimizer: Adam', () => {
  it('first step moves each parameter by lr against the sign of its gradient (hand-computed)', () => {
    // t = 1: m_hat = g, v_hat = g^2, so the step is lr g / (|g| + eps) = lr sign(g)
    const { vars } = run({ kind: 'adam', learningRate: 0.1 }, 1);
    expectClose(vars.w.dataSync(), [0.4, -0.9, 1.9, 0.35], 1e-6);
    expectClose(vars.b.dataSync(), [0], 1e-6);
  });

  for (const config of [
    { kind: 'adam', learningRate: 0.1 },
    { kind: 'adam', learningRate: 0.05, beta1: 0.5, beta2: 0.9, epsilon: 0.3 },
  ] as const) {
    it(`one and two steps match Algorithm 1 (${JSON.stringify(config)})`, () => {
      const lr = config.learningRate;
      const given = config as { beta1?: number; beta2?: number; epsilon?: number };
      const [b1, b2, eps] = [given.beta1 ?? 0.9, given.beta2 ?? 0.999, given.epsilon ?? 1e-8];
      for (const steps of [1, 2]) {
        const { optimizer, vars } = run(config, steps);
        const w = adamOracle(
          lr,
          b1,
          b2,
          eps,
          gradientSteps.slice(0, steps).map((g) => g.w),
          theta0.w,
        );
        const b = adamOracle(
          lr,
          b1,
          b2,
          eps,
          gradientSteps.slice(0, steps).map((g) => g.b),
          theta0.b,
        );
        expectClose(vars.w.dataSync(), w.x, 2e-6, `w after ${steps}`);
        expectClose(vars.b.dataSync(), b.x, 2e-6, `b after ${steps}`);
        const state = optimizer.getState();
        expect(state.kind).toBe('adam');
        expect(state.iterations).toBe(steps);
        expect(optimizer.step).toBe(steps);
        expect(state.slots.w!.m!.shape).toEqual([2, 2]);
        expectClose(state.slots.w!.m!.values, w.m, 1e-6, 'm');
        expectClose(state.slots.w!.v!.values, w.v, 1e-6, 'v');
      }
    });
  }

  it('has the documented defaults', () => {
    expect(new Optimizer({ kind: 'adam' }).config).toEqual({
      kind: 'adam',
      learningRate: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
    });
  });
});

describe('Optimizer: RMSProp', () => {
  it('a plain first step is lr g / sqrt((1 - rho) g^2 + eps) (hand-computed)', () => {
    // rho = 0.75, g = 0.5: n = 0.0625, sqrt(n) = 0.25, step = lr * 0.5 / 0.25 = 2 lr
    const optimizer = new Optimizer({
      kind: 'rmsprop',
      learningRate: 0.01,
      decay: 0.75,
      momentum: 0,
      epsilon: 0,
    });
    const x = tf.variable(tf.tensor1d([1, 1]));
    optimizer.apply({ x }, { x: tf.tensor1d([0.5, -0.5]) });
    expectClose(x.dataSync(), [0.98, 1.02], 1e-7);
  });

  const variants = [
    { name: 'plain', momentum: 0, centered: false, outsideRoot: false },
    { name: 'with momentum', momentum: 0.9, centered: false, outsideRoot: false },
    { name: 'centred with momentum', momentum: 0.9, centered: true, outsideRoot: false },
    { name: 'epsilon outside the root', momentum: 0.9, centered: false, outsideRoot: true },
    { name: 'centred, epsilon outside the root', momentum: 0.9, centered: true, outsideRoot: true },
  ];
  for (const variant of variants) {
    it(`one and two steps match the formulas (${variant.name})`, () => {
      const config = {
        kind: 'rmsprop',
        learningRate: 0.01,
        decay: 0.9,
        momentum: variant.momentum,
        centered: variant.centered,
        epsilon: 1e-3,
        epsilonPlacement: variant.outsideRoot ? 'outside-root' : 'inside-root',
      } as const;
      for (const steps of [1, 2]) {
        const { optimizer, vars } = run(config, steps);
        const oracle = (pick: (g: { w: number[]; b: number[] }) => number[], x0: number[]) =>
          rmspropOracle(
            0.01,
            0.9,
            variant.momentum,
            variant.centered,
            1e-3,
            gradientSteps.slice(0, steps).map(pick),
            x0,
            variant.outsideRoot,
          );
        const w = oracle((g) => g.w, theta0.w);
        expectClose(vars.w.dataSync(), w.x, 2e-6, `w after ${steps}`);
        expectClose(vars.b.dataSync(), oracle((g) => g.b, theta0.b).x, 2e-6, `b after ${steps}`);
        const slots = optimizer.getState().slots.w!;
        expect(Object.keys(slots).sort()).toEqual(
          variant.centered ? ['mean', 'momentum', 'n'] : ['momentum', 'n'],
        );
        expectClose(slots.n!.values, w.n, 1e-6, 'n');
        expectClose(slots.momentum!.values, w.mom, 1e-6, 'momentum');
        if (variant.centered) expectClose(slots.mean!.values, w.mean, 1e-6, 'mean');
      }
    });
  }

  it('centring changes the update (the two forms are not silently the same)', () => {
    const base = { kind: 'rmsprop', learningRate: 0.01, decay: 0.9, epsilon: 1e-3 } as const;
    const plain = run({ ...base, centered: false }, 2).vars.w.dataSync();
    const centred = run({ ...base, centered: true }, 2).vars.w.dataSync();
    expect(Array.from(plain)).not.toEqual(Array.from(centred));
  });

  it('epsilon outside the root: a first step is lr g / (sqrt((1 - rho) g^2) + eps) (hand-computed)', () => {
    // rho = 0.75, g = 0.5: sqrt(n) = 0.25; eps 0.25 outside: step = lr 0.5 / 0.5 = lr;
    // inside: lr 0.5 / sqrt(0.0625 + 0.25)
    const step = (epsilonPlacement: 'inside-root' | 'outside-root') => {
      const optimizer = new Optimizer({
        kind: 'rmsprop',
        learningRate: 0.01,
        decay: 0.75,
        momentum: 0,
        epsilon: 0.25,
        epsilonPlacement,
      });
      const x = tf.variable(tf.tensor1d([1]));
      optimizer.apply({ x }, { x: tf.tensor1d([0.5]) });
      return x.dataSync()[0]!;
    };
    expect(step('outside-root')).toBeCloseTo(0.99, 7);
    expect(step('inside-root')).toBeCloseTo(1 - 0.005 / Math.sqrt(0.3125), 7);
    expect(() => new Optimizer({ kind: 'rmsprop', epsilonPlacement: 'between' as never })).toThrow(
      /optimizer\.epsilonPlacement must be one of inside-root, outside-root, got between/,
    );
  });

  it('has the documented defaults (NTM paper: momentum 0.9, lr 1e-4)', () => {
    expect(new Optimizer({ kind: 'rmsprop' }).config).toEqual({
      kind: 'rmsprop',
      learningRate: 1e-4,
      decay: 0.95,
      momentum: 0.9,
      centered: false,
      epsilon: 1e-6,
      epsilonPlacement: 'inside-root',
    });
  });
});

describe('Optimizer state', () => {
  for (const config of [
    { kind: 'adam', learningRate: 0.1 },
    { kind: 'rmsprop', learningRate: 0.01, centered: true },
  ] as const) {
    it(`getState / setState continues exactly (${config.kind})`, () => {
      const { optimizer, vars } = run(config, 2);
      const restored = new Optimizer(config);
      restored.setState(optimizer.getState());
      expect(restored.step).toBe(2);
      const copy = {
        w: tf.variable(vars.w.clone()),
        b: tf.variable(vars.b.clone()),
      };
      const g = grads({ w: [0.3, 0.3, -0.1, 0.2], b: [0.7] });
      optimizer.apply(vars, g);
      restored.apply(copy, g);
      expectBitwiseEqual(copy.w.dataSync(), vars.w.dataSync());
      expectBitwiseEqual(copy.b.dataSync(), vars.b.dataSync());
      expect(restored.getState()).toEqual(optimizer.getState());
    });
  }

  it('getState returns copies', () => {
    const { optimizer } = run({ kind: 'adam' }, 1);
    const state = optimizer.getState();
    const before = state.slots.w!.m!.values.slice();
    state.slots.w!.m!.values.fill(42);
    expectBitwiseEqual(optimizer.getState().slots.w!.m!.values, before);
  });

  it('rejects a state of another kind or with other slots, naming both', () => {
    const adam = run({ kind: 'adam' }, 1).optimizer.getState();
    const rmsprop = run({ kind: 'rmsprop' }, 1).optimizer.getState();
    expect(() => new Optimizer({ kind: 'rmsprop' }).setState(adam)).toThrow(MannError);
    expect(() => new Optimizer({ kind: 'rmsprop' }).setState(adam)).toThrow(
      "optimizer state is for 'adam', this optimizer is 'rmsprop'",
    );
    expect(() => new Optimizer({ kind: 'rmsprop', centered: true }).setState(rmsprop)).toThrow(
      "optimizer state of 'w' has slots [momentum, n], expected [n, momentum, mean]",
    );
  });

  it('holds a fixed number of tensors across steps and frees them on dispose (ops path)', () => {
    const vars = variables();
    const optimizer = new Optimizer({ kind: 'rmsprop', centered: true }, { implementation: 'ops' });
    const g = grads(gradientSteps[0]!);
    const before = tf.memory().numTensors;
    optimizer.apply(vars, g);
    expect(tf.memory().numTensors).toBe(before + 6); // 3 slots x 2 parameters
    for (let i = 0; i < 4; i++) optimizer.apply(vars, g);
    expect(tf.memory().numTensors).toBe(before + 6);
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names a parameter that has no gradient', () => {
    const optimizer = new Optimizer({ kind: 'adam' });
    expect(() => optimizer.apply(variables(), { w: tf.zeros([2, 2]) })).toThrow(
      "no gradient for parameter 'b'",
    );
  });

  for (const kind of ['adam', 'rmsprop'] as const) {
    it(`${kind}: an update with a missing or misshapen gradient changes nothing (all or nothing)`, () => {
      const optimizer = new Optimizer({ kind });
      const vars = variables();
      optimizer.apply(vars, grads({ w: [0.1, -0.2, 0.3, 0.4], b: [0.5] }));
      const before = {
        w: vars.w.dataSync().slice(),
        b: vars.b.dataSync().slice(),
        state: optimizer.getState(),
      };
      const tensors = tf.memory().numTensors;
      const bad: (() => Record<string, tf.Tensor>)[] = [
        () => ({ w: tf.ones([2, 2]) }), // 'b' missing, after 'w' in iteration order
        () => ({ w: tf.ones([2, 2]), b: tf.ones([3]) }),
      ];
      const messages = [
        "no gradient for parameter 'b'",
        "gradient of parameter 'b' has shape [3], the parameter [1]",
      ];
      bad.forEach((make, i) => {
        const g = make();
        expect(() => optimizer.apply(vars, g)).toThrow(messages[i]);
        for (const t of Object.values(g)) t.dispose();
        expect(Array.from(vars.w.dataSync())).toEqual(Array.from(before.w));
        expect(Array.from(vars.b.dataSync())).toEqual(Array.from(before.b));
        expect(optimizer.getState()).toEqual(before.state);
        expect(optimizer.step).toBe(1);
        expect(tf.memory().numTensors).toBe(tensors);
      });
    });
  }
});

describe('Optimizer config errors', () => {
  const cases: [unknown, string][] = [
    [{ kind: 'sgd' }, 'optimizer.kind must be one of adam, rmsprop, got sgd'],
    [undefined, 'optimizer.kind must be one of adam, rmsprop, got undefined'],
    [
      { kind: 'adam', learningRate: 0 },
      /^optimizer\.learningRate must be a finite number in .*, got 0$/.source,
    ],
    [
      { kind: 'adam', learningRate: Number.NaN },
      /^optimizer\.learningRate must be .*, got NaN$/.source,
    ],
    [{ kind: 'adam', beta1: 1 }, 'optimizer.beta1 must be a finite number in [0, 0.999999], got 1'],
    [{ kind: 'adam', epsilon: -1 }, /^optimizer\.epsilon must be .*, got -1$/.source],
    [{ kind: 'rmsprop', decay: 1.5 }, /^optimizer\.decay must be .*, got 1\.5$/.source],
    [{ kind: 'rmsprop', momentum: -0.1 }, /^optimizer\.momentum must be .*, got -0\.1$/.source],
    [{ kind: 'rmsprop', centered: 'yes' }, 'optimizer.centered must be true or false, got yes'],
    [
      { kind: 'adam', lr: 0.1 },
      "unknown adam optimizer option 'lr'; valid options: kind, learningRate, beta1, beta2, epsilon",
    ],
    [
      { kind: 'rmsprop', beta1: 0.9 },
      "unknown rmsprop optimizer option 'beta1'; valid options: kind, learningRate, decay, momentum, centered, epsilon",
    ],
  ];
  for (const [config, message] of cases) {
    it(`rejects ${JSON.stringify(config)}`, () => {
      const make = () => new Optimizer(config as OptimizerConfig);
      expect(make).toThrow(MannError);
      if (message.startsWith('^')) expect(make).toThrow(new RegExp(message));
      else expect(make).toThrow(message);
    });
  }
});

describe('Optimizer: the flat update against the TF.js ops (the reference)', () => {
  const configs: OptimizerConfig[] = [
    { kind: 'adam' },
    { kind: 'adam', learningRate: 3e-2, beta1: 0.5, beta2: 0.9, epsilon: 1e-4 },
    { kind: 'rmsprop' },
    { kind: 'rmsprop', centered: true, learningRate: 1e-2, epsilon: 1e-10 },
    { kind: 'rmsprop', epsilonPlacement: 'outside-root', epsilon: 1e-8, momentum: 0.5 },
    { kind: 'rmsprop', centered: true, epsilonPlacement: 'outside-root', decay: 0.5 },
  ];
  const shapes: Record<string, number[]> = { w: [7, 5], b: [5], s: [1] };

  /** Parameters and slots after `plan.length` updates from seeded gradients of mixed scales. */
  function train(config: OptimizerConfig, plan: readonly OptimizerImplementation[]) {
    const rng = new Rng(11);
    const values = (size: number, scale: number) =>
      Float32Array.from({ length: size }, () => scale * (2 * rng.uniform() - 1));
    const vars: Record<string, tf.Variable> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      vars[name] = tf.variable(
        tf.tensor(
          values(
            shape.reduce((a, b) => a * b),
            1,
          ),
          shape,
        ),
      );
    }
    let optimizer = new Optimizer(config, { implementation: plan[0] });
    for (const [step, implementation] of plan.entries()) {
      if (implementation !== optimizer.implementation) {
        // switching paths mid-run: the state moves over through getState/setState
        const next = new Optimizer(config, { implementation });
        next.setState(optimizer.getState());
        optimizer.dispose();
        optimizer = next;
      }
      const scale = [1, 1e-6, 1e3, 0.1, 1][step % 5] as number;
      const g: Record<string, tf.Tensor> = {};
      for (const [name, shape] of Object.entries(shapes)) {
        g[name] = tf.tensor(
          values(
            shape.reduce((a, b) => a * b),
            scale,
          ),
          shape,
        );
      }
      optimizer.apply(vars, g);
      for (const t of Object.values(g)) t.dispose();
    }
    const out = {
      params: Object.fromEntries(
        Object.entries(vars).map(([n, v]) => [n, v.dataSync().slice() as Float32Array]),
      ),
      state: optimizer.getState(),
    };
    optimizer.dispose();
    for (const v of Object.values(vars)) v.dispose();
    return out;
  }

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`gives the same parameters and state bit for bit on ${backend}`, async () => {
      await withBackend(backend, () => {
        for (const config of configs) {
          const label = JSON.stringify(config);
          const reference = train(config, Array(6).fill('ops'));
          const flat = train(config, Array(6).fill('flat'));
          const mixed = train(config, ['flat', 'flat', 'ops', 'ops', 'flat', 'ops']);
          for (const run of [flat, mixed]) {
            for (const name of Object.keys(shapes)) {
              expectBitwiseEqual(run.params[name]!, reference.params[name]!, `${label} ${name}`);
              for (const [slot, entry] of Object.entries(reference.state.slots[name]!)) {
                expect(run.state.slots[name]![slot]!.shape).toEqual(entry.shape);
                expectBitwiseEqual(
                  run.state.slots[name]![slot]!.values,
                  entry.values,
                  `${label} ${name}.${slot}`,
                );
              }
            }
            expect(run.state.iterations).toBe(6);
          }
          // and the update did move the parameters
          expect(Array.from(reference.params.w!)).not.toEqual(
            Array.from(train(config, []).params.w!),
          );
        }
      });
    });
  }

  it('applyArrays gives the update of apply, bit for bit, on both paths', async () => {
    await withBackend('wasm', () => {
      for (const config of configs) {
        for (const implementation of ['flat', 'ops'] as const) {
          const label = `${JSON.stringify(config)} ${implementation}`;
          const run = (arrays: boolean) => {
            const vars = variables();
            const optimizer = new Optimizer(config, { implementation });
            for (let i = 0; i < 3; i++) {
              const step = gradientSteps[i % 2]!;
              if (arrays) {
                optimizer.applyArrays(vars, {
                  w: Float32Array.from(step.w),
                  b: Float32Array.from(step.b),
                });
              } else {
                const g = grads(step);
                optimizer.apply(vars, g);
                for (const t of Object.values(g)) t.dispose();
              }
            }
            const out = Object.values(vars).map((v) => v.dataSync().slice() as Float32Array);
            const state = optimizer.getState();
            optimizer.dispose();
            for (const v of Object.values(vars)) v.dispose();
            return { out, state };
          };
          const count = tf.memory().numTensors;
          const tensors = run(false);
          const leftByTensors = tf.memory().numTensors - count; // variables()' initial values
          const arrays = run(true);
          expect(tf.memory().numTensors - count, label).toBe(2 * leftByTensors);
          arrays.out.forEach((p, k) => expectBitwiseEqual(p, tensors.out[k]!, label));
          expect(arrays.state).toEqual(tensors.state);
        }
      }
    });
  });

  it('applyArrays rejects a missing gradient or one of the wrong size, changing nothing', async () => {
    await withBackend('wasm', () => {
      const vars = variables();
      const optimizer = new Optimizer({ kind: 'adam' });
      const w = Float32Array.from(gradientSteps[0]!.w);
      expect(() => optimizer.applyArrays(vars, { w })).toThrow("no gradient for parameter 'b'");
      expect(() =>
        optimizer.applyArrays(vars, { w: w.subarray(1), b: Float32Array.of(1) }),
      ).toThrow("gradient of parameter 'w' has 3 values, the parameter [2, 2] 4");
      expect(optimizer.step).toBe(0);
      expect(Array.from(vars.w.dataSync())).toEqual(theta0.w);
      optimizer.dispose();
      for (const v of Object.values(vars)) v.dispose();
    });
  });

  it('reuses its slot arrays from update to update, never those of a state it handed out', async () => {
    await withBackend('wasm', () => {
      for (const config of configs) {
        const label = JSON.stringify(config);
        const vars = variables();
        const optimizer = new Optimizer(config, { implementation: 'flat' });
        const state = (): OptimizerState => {
          for (let i = 0; i < 3; i++) {
            const g = grads(gradientSteps[i % 2]!);
            optimizer.apply(vars, g);
            for (const t of Object.values(g)) t.dispose();
          }
          return optimizer.getState();
        };
        const taken = state();
        const copy = structuredClone(taken);
        const later = state(); // updates that write into the slot arrays of earlier ones
        for (const [name, slots] of Object.entries(copy.slots)) {
          for (const [slot, entry] of Object.entries(slots)) {
            expectBitwiseEqual(taken.slots[name]![slot]!.values, entry.values, `${label} ${name}`);
            // and the later updates did change the slots
            expect(Array.from(later.slots[name]![slot]!.values), label).not.toEqual(
              Array.from(entry.values),
            );
          }
        }
        optimizer.dispose();
        for (const v of Object.values(vars)) v.dispose();
      }
    });
  });

  it('takes the flat path on cpu and wasm by default, and leaks no tensors', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await withBackend(backend, () => {
        const vars = variables();
        const optimizer = new Optimizer({ kind: 'adam' });
        expect(optimizer.implementation).toBe('auto');
        const g = grads(gradientSteps[0]!);
        const before = tf.memory().numTensors;
        for (let i = 0; i < 3; i++) optimizer.apply(vars, g);
        expect(tf.memory().numTensors, backend).toBe(before); // array slots: no tensors held
        optimizer.dispose();
      });
    }
  });

  it('rejects an unknown implementation, naming it', () => {
    expect(
      () =>
        new Optimizer(
          { kind: 'adam' },
          { implementation: 'fast' as unknown as OptimizerImplementation },
        ),
    ).toThrow(/implementation.*fast/);
  });
});
