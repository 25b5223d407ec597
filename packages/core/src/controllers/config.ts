import type { Controller } from '../interfaces.js';
import type { ParameterScope } from '../params.js';
import { checkChoice, checkInteger, invalidArgument } from '../errors.js';
import { withDefaults } from '../config.js';
import { DEFAULT_LSTM_INIT, LSTM_INITS, type LstmInit } from './lstm.js';
import { LstmController } from './lstm-controller.js';
import {
  FEEDFORWARD_ACTIVATIONS,
  FeedforwardController,
  type FeedforwardActivation,
} from './feedforward.js';

/** Kinds of built-in controller. */
export const CONTROLLER_KINDS = ['lstm', 'feedforward'] as const;

/** Configuration of a built-in controller. */
export interface ControllerConfig {
  /** `lstm` (default) or `feedforward`. */
  readonly kind: (typeof CONTROLLER_KINDS)[number];
  /** Units per layer, bottom first. Default [100] (the NTM paper's copy controller). */
  readonly hiddenSizes: readonly number[];
  /** Feed-forward only: activation of every layer. Default `tanh`. */
  readonly activation: FeedforwardActivation;
  /**
   * LSTM only: how the layers' parameters start, `glorot` or `wide-uniform` (see
   * {@link LstmInit}). Default `glorot`.
   */
  readonly init: LstmInit;
}

/** Defaults of {@link ControllerConfig}. */
export const DEFAULT_CONTROLLER: ControllerConfig = {
  kind: 'lstm',
  hiddenSizes: [100],
  activation: 'tanh',
  init: DEFAULT_LSTM_INIT,
};

/** Fills defaults and validates a controller config. */
export function resolveControllerConfig(
  given: Partial<ControllerConfig> | undefined,
): ControllerConfig {
  const config = withDefaults('controller', DEFAULT_CONTROLLER, given);
  checkChoice('controller.kind', config.kind, CONTROLLER_KINDS);
  checkChoice('controller.activation', config.activation, FEEDFORWARD_ACTIVATIONS);
  checkChoice('controller.init', config.init, LSTM_INITS);
  if (!Array.isArray(config.hiddenSizes) || config.hiddenSizes.length === 0) {
    throw invalidArgument(
      'controller.hiddenSizes',
      config.hiddenSizes,
      'a non-empty list of positive integers',
    );
  }
  config.hiddenSizes.forEach((h, i) => checkInteger(`controller.hiddenSizes[${i}]`, h, 1));
  return config;
}

/** Builds the controller a config describes, its parameters under `scope`. */
export function createController(
  scope: ParameterScope,
  inputSize: number,
  config: ControllerConfig,
): Controller {
  return config.kind === 'lstm'
    ? new LstmController(scope, inputSize, config.hiddenSizes, { init: config.init })
    : new FeedforwardController(scope, inputSize, config.hiddenSizes, config.activation);
}
