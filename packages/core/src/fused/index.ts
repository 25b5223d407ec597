/**
 * The kernel layer of mann's fast paths (`@mann/core/fused`): what a fused implementation of a
 * memory builds on. A run-time WebAssembly SIMD assembler with one documented contract, the
 * SIMD runtime that instantiates its modules on a memory of its own, scratch allocators, the
 * row kernels of a memory matrix (content addressing, erase-and-write, reads, products; each
 * in plain JS and in SIMD with the same contract), dense products, and the LSTM cell forward
 * and backward, and the whole-sequence driver of a memory network (`fusedSequence`: the LSTM
 * controller, the interface and output layers and backpropagation through time around any
 * memory step on typed arrays, a {@link SequenceMemory}). Everything here works on typed
 * arrays; `defineFusedOp` turns a kernel on them and its hand-written gradient into a
 * registered TF.js op.
 *
 * @packageDocumentation
 */

export {
  assemble,
  at,
  block,
  f32,
  f32x4,
  f64x2,
  forLoop,
  forRange,
  FunctionBuilder,
  get,
  I32,
  i32,
  i32x4,
  i64x2,
  ifElse,
  F32,
  set,
  v128,
  V128,
  when,
} from './wasm.js';
export type { Code, KernelCode, Local, ValueType } from './wasm.js';
export {
  acquireSimdRuntime,
  releaseSimdRuntime,
  simdAvailable,
  simdRuntime,
  SimdRuntime,
} from './simd.js';
export type { Kernel } from './simd.js';
export { matMulExports, rowKernelExports } from './simd-kernels.js';
export type { RowKernelExports } from './simd-kernels.js';
export { copyRows, jsRowKernels, rowKernelsFor, rowKernelsOn, rowView } from './rows.js';
export type { RowKernels, Rows, Values } from './rows.js';
export {
  eraseAndWriteBackward,
  eraseAndWriteForward,
  readVectorsBackward,
  readVectorsForward,
} from './memory-pass.js';
export type {
  EraseWrite,
  EraseWriteGradients,
  ReadVectors,
  ReadVectorsGradients,
} from './memory-pass.js';
export { createProducts } from './products.js';
export type { Operand, Products } from './products.js';
export { Carver, freshArrays, PooledArrays, scratch, scratch32 } from './scratch.js';
export type { Allocator } from './scratch.js';
export {
  lstmCellBackward,
  lstmCellBackwardJs,
  lstmCellForward,
  lstmCellForwardJs,
} from './lstm-cell.js';
export { expLocals, expOf, lstmCellExports, SIMD_EXP_LIMIT } from './simd-lstm-cell.js';
export type { ExpLocals } from './simd-lstm-cell.js';
export type { LstmCellBackwardArrays, LstmCellForwardArrays, LstmCellShape } from './lstm-cell.js';
export { defineFusedOp } from './fused-op.js';
export type { FusedInputs, FusedOp, FusedOpDefinition, FusedOutput } from './fused-op.js';
export {
  fusedSequence,
  fusedSequenceHook,
  sequenceInputNames,
  sequenceLossAndGradients,
} from './sequence.js';
export type { InitialArrays, SequenceMemory, SequenceMemoryRun } from './sequence.js';
export type { ParameterArrays } from '../interfaces.js';
