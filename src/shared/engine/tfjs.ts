/**
 * tfjs and its engine packages, loaded through require. They ship CommonJS bundles; an ESM import
 * of one makes Node scan the whole bundle (and the bundles it re-exports) for named exports, which
 * measured about 1 s for @tensorflow/tfjs and 0.3 s for @tensorflow/tfjs-node per process on a
 * 2-core machine, against 0.25–0.5 s for the require itself: a second paid on the coordinator and
 * again on every worker before its first step. The module instances are the ones an ESM import
 * would give (the require cache is shared), so jobs and tests that import tfjs see the same engine.
 */
import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs';

/** Node's require, relative to this package (engine packages resolve from here). */
export const requireModule = createRequire(import.meta.url);

/** The tfjs namespace ringtrain computes with. */
export const tf = requireModule('@tensorflow/tfjs') as typeof TF;
