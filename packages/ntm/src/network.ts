import * as tf from '@tensorflow/tfjs';
import { checkShape, LstmController, MemoryNetwork, tidy } from '@mann/core';
import type {
  LstmState,
  MemoryNetworkParts,
  MemoryNetworkState,
  RunOptions,
  RunResult,
} from '@mann/core';
import type { NtmConfig } from './config.js';
import { memoryStepSpec } from './fused/memory-step.js';
import { createSequenceOp } from './fused/sequence.js';
import type { SequenceInputs, SequenceSpec } from './fused/sequence.js';
import type { NtmMemory, NtmState } from './memory.js';

type SequenceOp = (...inputs: SequenceInputs) => tf.Tensor3D;

/**
 * The NTM's network: core's `MemoryNetwork` wiring (`h_t = controller([x_t ; r_{t-1}])`,
 * `xi_t = W_xi clip(h_t)`, `r_t = memory(xi_t)`, `y_t = W_y [clip(h_t) ; r_t]`) with a faster
 * `run` for the common case.
 *
 * With `implementation: 'fused'` and a one-layer LSTM controller, `run` computes the whole
 * recurrence (controller, interface layer, memory) as one op with a hand-written gradient
 * (`fused/sequence.ts`) and the output layer once over all steps: the same values and
 * gradients as the step-by-step loop, with two matMul kernels per time step forward and two
 * backward (a training step of the paper's configuration on the copy task at T = 41 launches
 * ~680 kernels instead of ~17,000). Other controllers, `implementation: 'composed'` and runs
 * that trace the addressing internals take `MemoryNetwork.run`'s step-by-step loop (with the
 * fused memory step unless composed); `step` always does.
 */
export class NtmNetwork extends MemoryNetwork {
  declare readonly config: NtmConfig;
  declare readonly memory: NtmMemory;
  private readonly sequenceOps = new Map<boolean, SequenceOp>();

  constructor(
    parts: MemoryNetworkParts & { readonly config: NtmConfig; readonly memory: NtmMemory },
  ) {
    super(parts);
  }

  /** Whether {@link NtmNetwork.run} takes the fused sequence op for these options. */
  runsFused(options: RunOptions = {}): boolean {
    const controller = this.controller;
    return (
      this.memory.config.implementation === 'fused' &&
      controller instanceof LstmController &&
      controller.layers.length === 1 &&
      !(options.trace === true && this.memory.config.traceAddressing)
    );
  }

  override run(inputs: tf.Tensor3D, options: RunOptions<MemoryNetworkState> = {}): RunResult {
    if (!this.runsFused(options)) return super.run(inputs, options);
    checkShape('inputs', inputs, [null, null, this.inputSize], '[B, T, inputSize]');
    const [batch, steps] = inputs.shape;
    if (steps === 0) throw new Error('inputs must have at least one time step, got T = 0');
    const trace = options.trace === true;
    const layer = (this.controller as LstmController).layers[0] as LstmController['layers'][0];
    const hidden = layer.hiddenSize;
    const gates = 4 * hidden;
    const { memorySlots: n, memoryWidth: w, readHeads: r, writeHeads: hw } = this.memory.config;
    const readSize = this.memory.readSize;
    const op = this.sequenceOp(hidden, trace);
    return tidy(() => {
      const state = (options.initialState ?? this.initialState(batch)) as MemoryNetworkState<
        LstmState,
        NtmState
      >;
      const controllerState = state.controller.layers[0] as LstmState['layers'][0];
      checkShape('initialState h', controllerState.h, [batch, hidden], '[B, hidden]');
      checkShape('initialState c', controllerState.c, [batch, hidden], '[B, hidden]');
      checkShape('initialState memory', state.memory.memory, [batch, n, w], '[B, N, W]');
      checkShape('initialState readWeights', state.memory.readWeights, [batch, r, n], '[B, R, N]');
      checkShape(
        'initialState writeWeights',
        state.memory.writeWeights,
        [batch, hw, n],
        '[B, Hw, N]',
      );
      checkShape('initialState reads', state.reads, [batch, readSize], '[B, R W]');
      const inputKernel = layer.inputKernel as tf.Tensor2D; // [inputSize + RW, 4C]
      // x_t W_x + b for every step at once, time first; W_x's rows for r_{t-1} go with W_h
      const projected = tf.reshape(
        tf.fused.matMul({
          a: tf.reshape(tf.transpose(inputs, [1, 0, 2]), [steps * batch, this.inputSize]),
          b: tf.slice(inputKernel, [0, 0], [this.inputSize, gates]),
          bias: layer.bias,
        }),
        [steps, batch, gates],
      ) as tf.Tensor3D;
      const recurrentKernel = tf.concat([
        layer.recurrentKernel as tf.Tensor2D,
        tf.slice(inputKernel, [this.inputSize, 0], [readSize, gates]),
      ]);
      const packed = op(
        projected,
        recurrentKernel,
        this.interfaceLayer.kernel as tf.Tensor2D,
        this.interfaceLayer.bias as tf.Tensor1D,
        controllerState.h,
        controllerState.c,
        state.memory.memory,
        state.memory.readWeights,
        state.memory.writeWeights,
        state.reads,
      );
      const features = hidden + readSize; // [clip(h_t) ; r_t]
      const outputs = this.outputLayer.apply(
        trace ? (tf.slice(packed, [0, 0, 0], [batch, steps, features]) as tf.Tensor3D) : packed,
      );
      if (!trace) return { outputs };
      const weights = (offset: number, heads: number): tf.Tensor =>
        tf.reshape(tf.slice(packed, [0, 0, features + offset], [batch, steps, heads * n]), [
          batch,
          steps,
          heads,
          n,
        ]);
      return {
        outputs,
        traces: { readWeights: weights(0, r), writeWeights: weights(r * n, hw) },
      };
    });
  }

  /** The sequence op for a controller of `hidden` units, with or without the weightings. */
  private sequenceOp(hidden: number, traceWeights: boolean): SequenceOp {
    let op = this.sequenceOps.get(traceWeights);
    if (op === undefined) {
      const spec: SequenceSpec = {
        memory: memoryStepSpec(this.memory.config),
        hidden,
        clipValue: this.clipValue,
        traceWeights,
      };
      op = createSequenceOp(spec);
      this.sequenceOps.set(traceWeights, op);
    }
    return op;
  }
}
