// A small WebAssembly assembler: enough of the binary format to build SIMD kernels at run time,
// with no toolchain and no binary blob in the repository. WebAssembly is a stack machine, so
// an expression is the bytes of its operands followed by its opcode, and the builders nest
// like the arithmetic they encode:
//   f32x4.add(f32x4.mul(a, b), c)   ->   a b f32x4.mul c f32x4.add
// Reference: WebAssembly Core Specification 2.0, section 5 (binary format), with the opcodes
// of the fixed-width SIMD extension. Only what the kernels of mann use is here.
//
// Contract of the control flow (the one thing that differed between the two assemblers this
// one replaces): `forLoop` and `forRange` test before the first iteration, so a loop whose
// count is 0 (or negative) runs its body zero times, like a JS `for`.

/** The bytes of an instruction sequence. */
export type Code = readonly number[];

/** Value types. */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
/** A value type. */
export type ValueType = typeof I32 | typeof F32 | typeof V128;

/** A local variable (parameters are locals too), by index. */
export interface Local {
  readonly index: number;
  readonly type: ValueType;
}

function unsignedLeb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function signedLeb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const simd = (opcode: number): number[] => [0xfd, ...unsignedLeb(opcode)];

/** Instructions in order. */
export const block = (...statements: Code[]): Code => statements.flat();
/** Reads a local. */
export const get = (local: Local): Code => [0x20, ...unsignedLeb(local.index)];
/** Evaluates `value` into a local. */
export const set = (local: Local, value: Code): Code => [
  ...value,
  0x21,
  ...unsignedLeb(local.index),
];

/** 32-bit integers (sizes, indices, byte addresses). */
export const i32 = {
  const: (value: number): Code => [0x41, ...signedLeb(value)],
  add: (a: Code, b: Code): Code => [...a, ...b, 0x6a],
  sub: (a: Code, b: Code): Code => [...a, ...b, 0x6b],
  mul: (a: Code, b: Code): Code => [...a, ...b, 0x6c],
  and: (a: Code, b: Code): Code => [...a, ...b, 0x71],
  ne: (a: Code, b: Code): Code => [...a, ...b, 0x47],
  shl: (a: Code, bits: number): Code => [...a, 0x41, ...signedLeb(bits), 0x74],
  /** a < b, signed */
  ltS: (a: Code, b: Code): Code => [...a, ...b, 0x48],
  /** a < b, unsigned */
  ltU: (a: Code, b: Code): Code => [...a, ...b, 0x49],
  eqz: (a: Code): Code => [...a, 0x45],
};

/** The byte address of float number `index` of the array that starts at byte `base`. */
export const at = (base: Code, index: Code): Code => i32.add(base, i32.shl(index, 2));

/** 32-bit floats; `offset` is a constant byte offset added to the address. */
export const f32 = {
  const: (value: number): Code => [0x43, ...new Uint8Array(new Float32Array([value]).buffer)],
  load: (address: Code, offset = 0): Code => [...address, 0x2a, 2, ...unsignedLeb(offset)],
  store: (address: Code, value: Code, offset = 0): Code => [
    ...address,
    ...value,
    0x38,
    2,
    ...unsignedLeb(offset),
  ],
  add: (a: Code, b: Code): Code => [...a, ...b, 0x92],
  sub: (a: Code, b: Code): Code => [...a, ...b, 0x93],
  mul: (a: Code, b: Code): Code => [...a, ...b, 0x94],
  /** The larger of a and b (NaN if either is NaN). */
  max: (a: Code, b: Code): Code => [...a, ...b, 0x97],
};

/**
 * Four float32 lanes. Loads and stores work at any address; 16-byte-aligned ones are faster
 * (the alignment immediate is a hint, never a requirement).
 */
export const f32x4 = {
  load: (address: Code, offset = 0): Code => [...address, ...simd(0x00), 4, ...unsignedLeb(offset)],
  store: (address: Code, value: Code, offset = 0): Code => [
    ...address,
    ...value,
    ...simd(0x0b),
    4,
    ...unsignedLeb(offset),
  ],
  splat: (scalar: Code): Code => [...scalar, ...simd(0x13)],
  /** The float at `address` (+ `offset` bytes) in all four lanes: `v128.load32_splat`. */
  loadSplat: (address: Code, offset = 0): Code => [
    ...address,
    ...simd(0x09),
    2,
    ...unsignedLeb(offset),
  ],
  lane: (vector: Code, lane: number): Code => [...vector, ...simd(0x1f), lane],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe4)],
  sub: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe5)],
  mul: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe6)],
  div: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe7)],
  /** Lane-wise maximum (NaN if either lane is NaN). */
  max: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe9)],
  sqrt: (a: Code): Code => [...a, ...simd(0xe3)],
  neg: (a: Code): Code => [...a, ...simd(0xe1)],
  /** Lane-wise a < b: all ones where true, all zeros where not. */
  lt: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x43)],
  /** Rounds each lane to the nearest integer, ties to even. */
  nearest: (a: Code): Code => [...a, ...simd(0x6a)],
  /** The sum of the four lanes of a local. */
  sum: (vector: Local): Code =>
    f32.add(
      f32.add(f32x4.lane(get(vector), 0), f32x4.lane(get(vector), 1)),
      f32.add(f32x4.lane(get(vector), 2), f32x4.lane(get(vector), 3)),
    ),
};

/** 128-bit values as bits, and four i32 lanes (for lane masks). */
export const v128 = {
  /** A constant of four i32 lanes. */
  i32x4: (lanes: readonly [number, number, number, number]): Code => [
    ...simd(0x0c),
    ...new Uint8Array(Int32Array.from(lanes).buffer),
  ],
  and: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x4e)],
  /** a and not b, bit-wise. */
  andNot: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x4f)],
  or: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x50)],
  /** Bits of `a` where `mask` is 1, of `b` where it is 0. */
  select: (a: Code, b: Code, mask: Code): Code => [...a, ...b, ...mask, ...simd(0x52)],
  /** The 8 bytes at `address` in the low half, zeros in the high half: `v128.load64_zero`. */
  load64: (address: Code, offset = 0): Code => [
    ...address,
    ...simd(0x5d),
    3,
    ...unsignedLeb(offset),
  ],
  /** The low 8 bytes of `value` stored at `address`: `v128.store64_lane` of lane 0. */
  store64: (address: Code, value: Code, offset = 0): Code => [
    ...address,
    ...value,
    ...simd(0x5b),
    3,
    ...unsignedLeb(offset),
    0,
  ],
};

/**
 * Two float64 lanes. Arithmetic is IEEE double precision, lane by lane, with the rounding of
 * JS numbers: a kernel that does a JS function's operations in the same order gets its results
 * bit for bit.
 */
export const f64x2 = {
  /** `value` in both lanes. */
  const: (value: number): Code => [
    ...simd(0x0c),
    ...new Uint8Array(new Float64Array([value, value]).buffer),
  ],
  /** The 8-byte double at `address` in both lanes: `v128.load64_splat`. */
  loadSplat: (address: Code, offset = 0): Code => [
    ...address,
    ...simd(0x0a),
    3,
    ...unsignedLeb(offset),
  ],
  /** The two low float32 lanes of `a` as doubles (exact). */
  promoteLow: (a: Code): Code => [...a, ...simd(0x5f)],
  /** Both lanes rounded to float32 (to nearest, as a Float32Array stores), in the low two lanes. */
  demote: (a: Code): Code => [...a, ...simd(0x5e)],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xf0)],
  sub: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xf1)],
  mul: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xf2)],
  div: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xf3)],
  /** Lane-wise minimum and maximum, as Math.min and Math.max (NaN wins; -0 < +0). */
  min: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xf4)],
  max: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xf5)],
  abs: (a: Code): Code => [...a, ...simd(0xec)],
  neg: (a: Code): Code => [...a, ...simd(0xed)],
  /** Each lane rounded toward zero, as Math.trunc. */
  trunc: (a: Code): Code => [...a, ...simd(0x7a)],
  /** Lane-wise a < b: all ones where true, all zeros where not (and where either is NaN). */
  lt: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x49)],
  /** Lane-wise a == b, as `lt`. */
  eq: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x47)],
};

/** Two i64 lanes. */
export const i64x2 = {
  /** Each lane shifted left by `bits`. */
  shl: (a: Code, bits: number): Code => [...a, 0x41, ...signedLeb(bits), ...simd(0xcb)],
};

/** Four i32 lanes. */
export const i32x4 = {
  splat: (scalar: Code): Code => [...scalar, ...simd(0x11)],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xae)],
  /** Each lane shifted left by `bits`. */
  shl: (a: Code, bits: number): Code => [...a, 0x41, ...signedLeb(bits), ...simd(0xab)],
  /** Each float lane truncated to an i32 (saturating; NaN gives 0). */
  fromFloat: (a: Code): Code => [...a, ...simd(0xf8)],
  /** Lane-wise a != b: all ones where they differ, all zeros where they are equal. */
  ne: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x38)],
};

/** `if (condition) body` (condition an i32, non-zero is true). */
export const when = (condition: Code, ...body: Code[]): Code =>
  block(condition, [0x04, 0x40], ...body, [0x0b]);

/** `if (condition) then else otherwise` (statements, no result). */
export const ifElse = (condition: Code, then: Code, otherwise: Code): Code =>
  block(condition, [0x04, 0x40], then, [0x05], otherwise, [0x0b]);

/**
 * `for (counter = from; counter < to; counter += step) body`, comparing signed i32s. The test
 * comes first: when `from >= to` the body does not run at all.
 */
export function forRange(
  counter: Local,
  from: Code,
  to: Code,
  step: number,
  ...body: Code[]
): Code {
  return block(
    set(counter, from),
    [0x02, 0x40], // block (no result): the exit
    i32.eqz(i32.ltS(get(counter), to)),
    [0x0d, 0], // br_if 0: skip when from >= to
    [0x03, 0x40], // loop (no result)
    ...body,
    set(counter, i32.add(get(counter), i32.const(step))),
    i32.ltS(get(counter), to),
    [0x0d, 0], // br_if 0: to the loop's start
    [0x0b, 0x0b], // end loop, end block
  );
}

/** `for (counter = 0; counter < to; counter += step) body`: {@link forRange} from 0. */
export const forLoop = (counter: Local, to: Code, step: number, ...body: Code[]): Code =>
  forRange(counter, i32.const(0), to, step, ...body);

/** A function under construction: its i32 parameters and its locals, by name. */
export class FunctionBuilder<P extends string = string> {
  private readonly types: ValueType[] = [];
  /** The parameters (all i32), by name. */
  readonly params: Readonly<Record<P, Local>>;
  /** The signature's parameter count. */
  readonly arity: number;

  constructor(
    readonly name: string,
    parameters: readonly P[],
  ) {
    const params = {} as Record<P, Local>;
    parameters.forEach((parameter, index) => (params[parameter] = { index, type: I32 }));
    this.params = params;
    this.arity = parameters.length;
  }

  /** New locals of `type`, by name. */
  locals<L extends string>(type: ValueType, ...names: L[]): Record<L, Local> {
    const locals = {} as Record<L, Local>;
    for (const local of names) {
      this.types.push(type);
      locals[local] = { index: this.arity + this.types.length - 1, type };
    }
    return locals;
  }

  /** The function body's bytes around `body`. */
  encode(body: Code): number[] {
    const locals = this.types.map((type) => [1, type]);
    const bytes = [...unsignedLeb(locals.length), ...locals.flat(), ...body, 0x0b];
    return [...unsignedLeb(bytes.length), ...bytes];
  }
}

/** A kernel's builder and body, for {@link assemble}. */
export interface KernelCode {
  readonly builder: FunctionBuilder;
  readonly body: Code;
}

function vector(items: readonly (readonly number[])[]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

function name(text: string): number[] {
  return vector([...text].map((c) => [c.charCodeAt(0)]));
}

function section(id: number, content: number[]): number[] {
  return [id, ...unsignedLeb(content.length), ...content];
}

/**
 * A module that imports its memory as `env.memory` and exports each function by its name.
 * Every function takes i32 parameters and returns nothing.
 */
export function assemble(functions: readonly KernelCode[]): Uint8Array {
  const types = vector(
    functions.map(({ builder }) => [
      0x60,
      ...vector(Array.from({ length: builder.arity }, () => [I32])),
      0,
    ]),
  );
  const imports = vector([[...name('env'), ...name('memory'), 0x02, 0x00, 1]]);
  const declarations = vector(functions.map((_, i) => unsignedLeb(i)));
  const exports = vector(
    functions.map(({ builder }, i) => [...name(builder.name), 0x00, ...unsignedLeb(i)]),
  );
  const code = vector(functions.map(({ builder, body }) => builder.encode(body)));
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, types),
    ...section(2, imports),
    ...section(3, declarations),
    ...section(7, exports),
    ...section(10, code),
  ]);
}
