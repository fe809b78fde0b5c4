/**
 * Where a thread's time goes, in seconds per part, accumulated into ThreadScratch.prof when
 * Network.profile is on (a clock read per part).
 */
export const PROF_HASH = 0;
export const PROF_LOOKUP = 1;
export const PROF_FORWARD = 2;
export const PROF_BACKWARD = 3;
export const PROF_UPDATE = 4;
export const PROF_REBUILD = 5;
export const PROF_SLOTS = 6;

export const PROF_NAMES = ['hash', 'lookup', 'forward', 'backward', 'update', 'rebuild'] as const;
export type ProfilePart = (typeof PROF_NAMES)[number];
