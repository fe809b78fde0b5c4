/**
 * Where a thread's time goes, in seconds, accumulated into ThreadScratch.prof when
 * Network.profile is on (a clock read per part or phase):
 *  - per part of the work (hash .. rebuild; rebuilds are timed always);
 *  - per phase of the executor (train .. eval): with the coordinator's wall time of each phase,
 *    what shows how long each thread waited at the phase's barrier (SlideModel.phaseProfile).
 */
export const PROF_HASH = 0;
export const PROF_LOOKUP = 1;
export const PROF_FORWARD = 2;
export const PROF_BACKWARD = 3;
export const PROF_UPDATE = 4;
export const PROF_REBUILD = 5;
/** first of the PHASE_NAMES slots */
export const PROF_PHASE = 6;
export const PROF_SLOTS = 12;

export const PROF_NAMES = ['hash', 'lookup', 'forward', 'backward', 'update', 'rebuild'] as const;
export type ProfilePart = (typeof PROF_NAMES)[number];

/** The executor's phases as profiled (the remote output layer's phases count as train and eval). */
export const PHASE_NAMES = ['train', 'replay', 'update', 'stage', 'commit', 'eval'] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];
