/**
 * A replica's state as data (weights, optimizer state, sampler position) and the `state` message
 * that carries it: survivors report theirs when membership changes, rank 0 after the steps the
 * coordinator asks for, and checkpoints hold one (checked by the same schema when read back).
 */
import { F32, Finite, Int, Msg, Named, OrNull, Str, Type, Closed, parser, type Static } from './schema.js';

/**
 * A configuration as flat named values. The optim layer (shared/optim) gives them meaning; here
 * they are only data, so the wire format knows no optimizer.
 */
export const ConfigValuesSchema = Named(Type.Union([Finite(), Type.Boolean(), Str(64)]));
export type ConfigValues = Readonly<Static<typeof ConfigValuesSchema>>;

/**
 * An optimizer's state as data (shared/optim's OptimState has this shape): its name and
 * configuration, named per-parameter slots (Adam's m and v, SGD's momentum) and named scalars
 * (Adam's t and beta powers), as torch.optim's state_dict holds them.
 */
export const OptimStateSchema = Closed({
  optimizer: Str(64),
  config: ConfigValuesSchema,
  slots: Named(F32()),
  scalars: Named(Finite()),
});
export type OptimStateData = Static<typeof OptimStateSchema>;

/**
 * Everything a replica's future depends on: weights, optimizer state, how many updates were
 * applied and where the sampler stands. Survivors adopt the most advanced one when membership
 * changes; checkpoints hold one. Whether the optimizer state suits the run's optimizer is
 * shared/optim `checkState`'s to say; the shape is checked here.
 */
export const TrainStateSchema = Type.Refine(
  Closed({
    /** Updates applied so far; also the index of the next step. */
    step: Int(),
    /** Epoch of the next sample, and how many samples of that epoch's order were consumed. */
    epoch: Int(),
    cursor: Int(),
    params: F32(),
    optim: OptimStateSchema,
  }),
  (s) => Object.values(s.optim.slots).every((slot) => slot.length === s.params.length),
  () => 'must have optimizer slots as long as its parameters',
);
export type TrainState = Static<typeof TrainStateSchema>;

/** A worker's full state: on pause (membership change), or after a step the coordinator asked for. */
export const StateSchema = Msg('state', { generation: Int(), state: OrNull(TrainStateSchema) });
export type StateMsg = Static<typeof StateSchema>;

/** Validates a TrainState from any source (network or checkpoint file); throws RT_BAD_MESSAGE. */
export const parseTrainState: (raw: unknown) => TrainState = parser(TrainStateSchema, 'state');
