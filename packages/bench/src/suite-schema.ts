// The schema of a suite (a JSON suite file, or a SuiteSpec given to the API): structure, types
// and known keys, checked with zod. One schema gives the SuiteFile type and the error messages,
// which name the path in the file (`tasks[0].parms: unknown key; did you mean params?`).
// Ranges of the training options and the model and task options are checked afterwards by
// resolveTraining, the model definitions and the task registry, which know their valid values.
import * as z from 'zod';

const params = z.record(z.string(), z.unknown());

const adam = z.strictObject({
  kind: z.literal('adam'),
  learningRate: z.number().optional(),
  beta1: z.number().optional(),
  beta2: z.number().optional(),
  epsilon: z.number().optional(),
});
const rmsprop = z.strictObject({
  kind: z.literal('rmsprop'),
  learningRate: z.number().optional(),
  decay: z.number().optional(),
  momentum: z.number().optional(),
  centered: z.boolean().optional(),
  epsilon: z.number().optional(),
});

/** Training options of a suite file; each may be left out (the defaults apply). */
export const trainingSchema = z.strictObject({
  sequences: z.number().optional(),
  batchSize: z.number().optional(),
  optimizer: z.discriminatedUnion('kind', [adam, rmsprop]).optional(),
  clipNorm: z.number().optional(),
  clipGradientValue: z.number().optional(),
  evalEvery: z.number().optional(),
  evalSize: z.number().optional(),
  checkpointEvery: z.number().optional(),
  stopAt: z
    .strictObject({ metric: z.string(), below: z.number(), trainOn: z.number().optional() })
    .optional(),
  curriculum: z
    .strictObject({
      key: z.string(),
      start: z.number(),
      end: z.number(),
      step: z.number().optional(),
      threshold: z.number().optional(),
      window: z.number().optional(),
    })
    .optional(),
});

const generalisationSet = z.union([z.string(), z.strictObject({ name: z.string(), params })]);

/** The schema of a suite file. */
export const suiteFileSchema = z.strictObject({
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  models: z
    .array(
      z.strictObject({
        label: z.string().min(1),
        // Model options are checked by the model type's own definition (resolveConfig).
        config: z.looseObject({ type: z.string().min(1) }),
      }),
    )
    .min(1),
  tasks: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        params: params.optional(),
        generalisation: z.array(generalisationSet).optional(),
        models: z.array(z.string().min(1)).optional(),
      }),
    )
    .min(1),
  seeds: z.array(z.int().nonnegative()).min(1).optional(),
  training: trainingSchema.optional(),
  overrides: z
    .array(
      z.strictObject({
        model: z.string().optional(),
        task: z.string().optional(),
        training: trainingSchema.optional(),
        config: params.optional(),
      }),
    )
    .optional(),
});

/** A suite file as written (JSON): {@link SuiteSpec} with defaults left out. */
export type SuiteFile = z.infer<typeof suiteFileSchema>;

/** `tasks[0].params` from `['tasks', 0, 'params']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(the top level)';
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(
        above + 1,
        row[j - 1]! + 1,
        diagonal + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
      );
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The closest of `candidates` to `word`, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3))
    ? best
    : undefined;
}

/** The keys an object schema at `path` accepts (following arrays, optionals and unions). */
function knownKeys(path: readonly PropertyKey[], value: unknown): string[] {
  let schema: z.ZodType = suiteFileSchema;
  let data = value;
  const unwrap = (): void => {
    for (;;) {
      if (schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
      else if (schema instanceof z.ZodDiscriminatedUnion) {
        const kind = (data as { kind?: unknown } | undefined)?.kind;
        const options = schema.options as z.ZodObject[];
        schema = options.find((o) => (o.shape.kind as z.ZodLiteral).value === kind) ?? options[0]!;
      } else if (schema instanceof z.ZodUnion) {
        schema = (schema.options as z.ZodType[]).find((o) => o instanceof z.ZodObject) ?? schema;
        if (!(schema instanceof z.ZodObject)) return;
      } else return;
    }
  };
  for (const key of path) {
    unwrap();
    data = (data as Record<PropertyKey, unknown> | undefined)?.[key];
    if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else if (schema instanceof z.ZodObject)
      schema = (schema.shape as Record<string, z.ZodType>)[String(key)]!;
    else return [];
    if (!schema) return [];
  }
  unwrap();
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (v, key) => (v as Record<PropertyKey, unknown> | undefined)?.[key],
    value,
  );
}

const shown = (value: unknown): string => (value === undefined ? 'nothing' : JSON.stringify(value));

/**
 * Checks `value` against the suite schema; returns one message per problem, each starting with
 * the path of the offending value (empty when the suite is well-formed).
 */
export function suiteProblems(value: unknown): string[] {
  const result = suiteFileSchema.safeParse(value);
  if (result.success) return [];
  const problems: string[] = [];
  for (const issue of result.error.issues) {
    const path = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(path, value);
      for (const key of issue.keys) {
        const guess = closest(key, known);
        problems.push(
          `${formatPath([...path, key])}: unknown key; ${guess ? `did you mean ${guess}?` : `valid keys: ${known.join(', ')}`}`,
        );
      }
    } else if (issue.code === 'invalid_union' && 'options' in issue) {
      const options = (issue as { options: unknown[] }).options;
      problems.push(
        `${formatPath(path)}: must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}, got ${shown(valueAt(value, path))}`,
      );
    } else {
      problems.push(`${formatPath(path)}: ${issue.message}, got ${shown(valueAt(value, path))}`);
    }
  }
  return problems;
}
