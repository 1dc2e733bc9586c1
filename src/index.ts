/** Library entry: the same pieces the CLI uses, for programs that embed ringtrain. */
export { launchCoordinator, type CoordinatorHandle, type RunSummary } from './coordinator/coordinator.js';
export { runLocal, type LocalOptions } from './coordinator/local.js';
export { runWorker, type WorkerResult } from './worker/worker.js';
export { coordinatorConfig, workerConfig, ConfigDefaults, type CoordinatorConfig, type WorkerConfig, type BackendName } from './shared/config.js';
export { RingtrainError, ErrorCodes, type ErrorCode } from './shared/errors.js';
export type { Job, JobData, Dataset, Tfjs } from './jobs/job.js';
export { BUILTIN_JOBS, loadJob } from './jobs/registry.js';
export type { Collective } from './worker/collective.js';
export { loadSavedModel, fileModelHandler, evaluateSaved } from './jobs/saved-model.js';
export { PackWriter } from './data/pack-writer.js';
export { PackReader, type PackRows } from './data/pack-reader.js';
export { packArrays, packCsv, packJsonl, parseTensorSpecs, type TensorSource } from './data/pack-sources.js';
export type { PackHeader, TensorSpec, PackDtype } from './data/pack-format.js';
export { startOps, opsConfig, type Ops, type OpsConfig } from './coordinator/ops.js';
export type { RunObserver, RunStartEvent, StepEvent, EpochEvent, RunEndEvent } from './coordinator/run-events.js';
