import fc from 'fast-check';

/**
 * Every property in the suite runs from a fixed seed, so a run is the same on every machine
 * and a failure replays: fast-check prints the seed and path of what failed. FREEHINT_SEED
 * picks another seed for a run that explores (a test that sets its own seed keeps it).
 */
const fromEnv = Number(process.env['FREEHINT_SEED']);
fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: Number.isSafeInteger(fromEnv) ? fromEnv : 20_261_124 });
