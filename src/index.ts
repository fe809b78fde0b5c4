/**
 * sublinear: the SLIDE engine as a library. Everything the CLI does is here.
 *
 *   import { SlideModel, readXcFile } from 'sublinear';
 */
export { SlideModel } from './training/model.js';
export type { ModelOptions, FitOptions, EvalOptions, EvalResult, EpochSummary, Progress, Prediction, BatchStats } from './training/model.js';
export { parseConfig, defaultConfig, configSchema } from './config.js';
export type { Config, ConfigInput, LayerSampling, HashConfig, ActiveSetConfig, OptimizerConfig, RebuildConfig } from './config.js';
export { readXcFile, readXcBatches, parseXcString } from './data/xcReader.js';
export { writeXcFile, formatXcString } from './data/xcWriter.js';
export { generateSynthetic, SYNTH_SHAPES, datasetStats } from './data/synth.js';
export { buildWordnetDataset, writeWordnetDataset, tokenize, featurizeText } from './data/wordnet.js';
export type { Weighting } from './data/text/tfidf.js';
export type { CsrBatch, XcDataset } from './data/csr.js';
export { createHashFamily, registerHashFamily } from './hashing/registry.js';
export type { HashFamily, HashFamilyOptions, HashFamilyName } from './hashing/types.js';
export { LshTables } from './tables/tables.js';
export { QueryScratch, queryUnion, queryVotes, topByVotes } from './tables/query.js';
export { MetricsAccumulator, majorityBaselineP1 } from './eval/metrics.js';
export type { RankingMetrics } from './eval/metrics.js';
export { RebuildSchedule } from './training/schedule.js';
export { deriveConfig, dataShapeOf, explainSettings, currentMachine, DENSE_MAX_LABELS } from './training/autoConfig.js';
export type { DataShape, MachineShape, DerivedSetting } from './training/autoConfig.js';
export { WORDNET_RECIPE } from './training/recipes.js';
export { Rng } from './util/rng.js';
export { InputError, ConfigError } from './util/errors.js';
export { saveModel, loadModel, readCheckpointMeta, CheckpointError, CHECKPOINT_VERSION } from './checkpoint/checkpoint.js';
export type { CheckpointExtra, LoadedModel, CheckpointMeta } from './checkpoint/checkpoint.js';
export { encodeSafetensors, decodeSafetensors, writeSafetensors, parseHeader as parseSafetensorsHeader, SafetensorsError } from './checkpoint/safetensors.js';
export type { TensorEntry, TensorInfo, SafetensorsHeader, SafeDtype } from './checkpoint/safetensors.js';
export { readVocabDir } from './checkpoint/vocab.js';
export { Predictor, QueryError } from './serve/predictor.js';
export type { LabelScore, PredictResult } from './serve/predictor.js';
export { buildServer, startServer } from './serve/server.js';
export type { ServerOptions } from './serve/server.js';
