import type { MemoryAccess, ModelConfig, RecurrentModel } from './interfaces.js';
import type { ParameterScope } from './params.js';
import { Rng } from './random.js';
import { checkInteger, MannError } from './errors.js';

/** A model type that {@link createModel} can build by name. */
export interface ModelDefinition<C extends ModelConfig = ModelConfig> {
  /** Registry name, e.g. `ntm`. */
  readonly type: string;
  /** One line for `--help` and reports. */
  readonly description: string;
  /** Fills defaults and validates; unknown keys and bad values throw with the valid ones. */
  resolveConfig(config: Partial<C> & Pick<ModelConfig, 'inputSize' | 'outputSize'>): C;
  /** Builds the model; draws its initial parameters from `rng`. */
  create(config: C, rng: Rng): RecurrentModel;
}

/** A memory scheme that the generic memory network (`type: 'memory'`) can build by name. */
export interface MemoryDefinition<C extends object = object> {
  /** Registry name, e.g. `ntm`, `dnc`, or a plugin's `stack`. */
  readonly type: string;
  readonly description: string;
  /** Fills defaults and validates the scheme's options (everything except `type`). */
  resolveConfig(config: Record<string, unknown>): C;
  /** Builds the memory; its learned parameters (initial state, ...) go under `scope`. */
  create(config: C, scope: ParameterScope): MemoryAccess;
}

const models = new Map<string, ModelDefinition>();
const memories = new Map<string, MemoryDefinition>();

function checkName(kind: string, type: string): void {
  if (!/^[a-z][a-z0-9-]*$/.test(type)) {
    throw new MannError(`${kind} type must be lowercase letters, digits and dashes, got '${type}'`);
  }
}

/**
 * Registers a model type. Registering the same definition again is a no-op; a different
 * definition under a taken name throws (pass `replace: true` to override on purpose).
 */
export function registerModel<C extends ModelConfig>(
  definition: ModelDefinition<C>,
  replace = false,
): void {
  checkName('model', definition.type);
  const existing = models.get(definition.type);
  if (existing && existing !== (definition as unknown) && !replace) {
    throw new MannError(`model type '${definition.type}' is already registered`);
  }
  models.set(definition.type, definition as unknown as ModelDefinition);
}

/** Registers a memory scheme (same rules as {@link registerModel}). */
export function registerMemory<C extends object>(
  definition: MemoryDefinition<C>,
  replace = false,
): void {
  checkName('memory', definition.type);
  const existing = memories.get(definition.type);
  if (existing && existing !== (definition as unknown) && !replace) {
    throw new MannError(`memory type '${definition.type}' is already registered`);
  }
  memories.set(definition.type, definition as unknown as MemoryDefinition);
}

/** Registered model types, sorted. */
export function listModels(): string[] {
  return [...models.keys()].sort();
}

/** Registered memory schemes, sorted. */
export function listMemories(): string[] {
  return [...memories.keys()].sort();
}

/** The definition of model `type`; throws listing the known types. */
export function getModelDefinition(type: string): ModelDefinition {
  const definition = models.get(type);
  if (!definition) {
    throw new MannError(
      `unknown model type '${type}'; known types: ${listModels().join(', ') || '(none)'}`,
    );
  }
  return definition;
}

/** The definition of memory scheme `type`; throws listing the known schemes. */
export function getMemoryDefinition(type: string): MemoryDefinition {
  const definition = memories.get(type);
  if (!definition) {
    throw new MannError(
      `unknown memory type '${type}'; known types: ${listMemories().join(', ') || '(none)'}`,
    );
  }
  return definition;
}

/** Options of {@link createModel}. */
export interface CreateModelOptions {
  /** Seed of the initialisation (default 0). Ignored when `rng` is given. */
  readonly seed?: number;
  /** Draw the initialisation from this generator instead. */
  readonly rng?: Rng;
}

/**
 * Builds a registered model from a plain config object, e.g.
 * `createModel({ type: 'ntm', inputSize: 9, outputSize: 8 }, { seed: 1 })`.
 */
export function createModel(
  config: Partial<ModelConfig> & Pick<ModelConfig, 'type' | 'inputSize' | 'outputSize'>,
  options: CreateModelOptions = {},
): RecurrentModel {
  if (config === null || typeof config !== 'object' || typeof config.type !== 'string') {
    throw new MannError(
      `model config must be an object with a string 'type', got ${JSON.stringify(config)}`,
    );
  }
  const definition = getModelDefinition(config.type);
  checkInteger('inputSize', config.inputSize, 1);
  checkInteger('outputSize', config.outputSize, 1);
  const resolved = definition.resolveConfig(config);
  return definition.create(resolved, options.rng ?? new Rng(options.seed ?? 0));
}
