import { MannLayer, type MannLayerArgs } from './memory-layer.js';

/** Makes the layer of one model type (e.g. `ntm` -> an `NtmLayer`). */
export type LayerFactory = (args: MannLayerArgs) => MannLayer;

const factories = new Map<string, LayerFactory>();

/**
 * Registers the layer class of a model type, for {@link createLayer} (and so `mann export`).
 * Model types without one get a plain {@link MannLayer}.
 */
export function registerLayerType(type: string, factory: LayerFactory): void {
  factories.set(type, factory);
}

/** The layer of `args.type`: its registered class, else a {@link MannLayer}. */
export function createLayer(args: MannLayerArgs): MannLayer {
  const factory = factories.get(args.type);
  return factory ? factory(args) : new MannLayer(args);
}
