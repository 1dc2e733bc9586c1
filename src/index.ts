/** Library entry: the same pieces the CLI uses, for programs that embed ringtrain. */
export { launchCoordinator, type CoordinatorHandle, type RunSummary } from './coordinator/coordinator.js';
export { runLocal, type LocalOptions } from './launch/local.js';
export { runWorker, type WorkerResult } from './worker/worker.js';
export { coordinatorConfig, workerConfig, ConfigDefaults, type CoordinatorConfig, type WorkerConfig, type BackendName } from './shared/config/config.js';
export { RingtrainError, ErrorCodes, type ErrorCode } from './shared/base/errors.js';
export type { Job, JobData, Dataset, Tfjs } from './shared/job/job.js';
export { BUILTIN_JOBS, loadJob } from './jobs/registry.js';
export type { Collective } from './shared/collective/collective.js';
export { loadSavedModel, fileModelHandler, evaluateSaved } from './jobs/saved-model.js';
export { PackWriter } from './shared/data/pack-writer.js';
export { PackReader, type PackRows } from './shared/data/pack-reader.js';
export { packArrays, packCsv, packJsonl, parseTensorSpecs, type TensorSource } from './shared/data/pack-sources.js';
export type { PackHeader, TensorSpec, PackDtype } from './shared/data/pack-format.js';
export { startOps, opsConfig, type Ops, type OpsConfig } from './coordinator/ops/ops.js';
export type { RunObserver, RunStartEvent, StepEvent, EpochEvent, RunEndEvent } from './coordinator/run-events.js';
