// A tiny WebAssembly assembler: enough of the binary format to build SIMD kernels from
// expressions at run time, with no toolchain and no binary blob in the repository. WebAssembly
// is a stack machine, so an expression is the bytes of its operands followed by its opcode, and
// the builders below nest like the arithmetic they encode:
//   f32x4.add(f32x4.mul(a, b), c)   ->   a b f32x4.mul c f32x4.add
// Only what the kernels of this folder use is here. Reference: WebAssembly Core Specification
// 2.0, section 5 (binary format); SIMD opcodes from the fixed-width SIMD proposal.

/** Bytes of an instruction sequence. */
export type Code = readonly number[];

/** Value types. */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
type ValueType = typeof I32 | typeof F32 | typeof V128;

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
const seq = (...parts: Code[]): Code => parts.flat();

/** Reads a local. */
export const get = (local: Local): Code => [0x20, ...unsignedLeb(local.index)];
/** Evaluates `value` into a local. */
export const set = (local: Local, value: Code): Code => [
  ...value,
  0x21,
  ...unsignedLeb(local.index),
];
/** Instructions in order. */
export const block = (...statements: Code[]): Code => seq(...statements);

export const i32 = {
  const: (value: number): Code => [0x41, ...signedLeb(value)],
  add: (a: Code, b: Code): Code => [...a, ...b, 0x6a],
  sub: (a: Code, b: Code): Code => [...a, ...b, 0x6b],
  mul: (a: Code, b: Code): Code => [...a, ...b, 0x6c],
  shl: (a: Code, bits: number): Code => [...a, 0x41, ...signedLeb(bits), 0x74],
  ltU: (a: Code, b: Code): Code => [...a, ...b, 0x49],
  and: (a: Code, b: Code): Code => [...a, ...b, 0x71],
};

/** Byte address of float number `index` of the array that starts at byte `base`. */
export const at = (base: Code, index: Code): Code => i32.add(base, i32.shl(index, 2));

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
};

/** Four float32 lanes. Loads and stores need 16-byte-aligned addresses for speed only. */
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
  lane: (vector: Code, lane: number): Code => [...vector, ...simd(0x1f), lane],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe4)],
  sub: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe5)],
  mul: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe6)],
  /** The sum of the four lanes. */
  sum: (vector: Local): Code =>
    f32.add(
      f32.add(f32x4.lane(get(vector), 0), f32x4.lane(get(vector), 1)),
      f32.add(f32x4.lane(get(vector), 2), f32x4.lane(get(vector), 3)),
    ),
};

/**
 * `for (counter = from; counter < to; counter += step) body` (the body runs at least once, so
 * `to > from` is the caller's promise).
 */
export function forLoop(counter: Local, from: Code, to: Code, step: number, ...body: Code[]): Code {
  return seq(
    set(counter, from),
    [0x03, 0x40], // loop (no result)
    ...body,
    set(counter, i32.add(get(counter), i32.const(step))),
    i32.ltU(get(counter), to),
    [0x0d, 0], // br_if to the loop's start
    [0x0b], // end
  );
}

/** `if (condition != 0) body` */
export function when(condition: Code, ...body: Code[]): Code {
  return seq(condition, [0x04, 0x40], ...body, [0x0b]);
}

/** A function under construction: its parameters (all i32, declared first) and locals. */
export class FunctionBuilder {
  private readonly parameters: number[] = [];
  private readonly locals: ValueType[] = [];

  constructor(readonly name: string) {}

  /** The next i32 parameter (declare every parameter before the first local). */
  param(): Local {
    if (this.locals.length > 0) throw new Error(`${this.name}: parameters come before locals`);
    this.parameters.push(I32);
    return { index: this.parameters.length - 1, type: I32 };
  }

  /** A new local of `type`. */
  local(type: ValueType): Local {
    this.locals.push(type);
    return { index: this.parameters.length + this.locals.length - 1, type };
  }

  /** Number of parameters. */
  get arity(): number {
    return this.parameters.length;
  }

  /** The function body's bytes around `body`. */
  encode(body: Code): number[] {
    const locals = this.locals.map((type) => [1, type]);
    const bytes = [...unsignedLeb(locals.length), ...locals.flat(), ...body, 0x0b];
    return [...unsignedLeb(bytes.length), ...bytes];
  }
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
export function assemble(
  functions: readonly { builder: FunctionBuilder; body: Code }[],
): Uint8Array {
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
