export { Vm, kernelReserved, type VmOptions, type MemoryKind } from './vm.js';
export { migrate, type MigrateOptions, type Migration } from './migrate.js';
export { runBalloonDemo } from './balloon-demo.js';
export { runStrategy, prepareGuest, withReductions, compareScenarios, type StrategyResult, type StrategyProgress, type CompareEvent } from './compare.js';
export { checkScenario, parseSize, makeWorkload, ScenarioError, PUBLISHED_SETUP, DEFAULT_STRATEGIES, WORKLOADS, FREE_POLICIES, type Scenario, type WorkloadName } from './scenario.js';
export { HOST_NAMES, HOST_PROFILES, type HostName, type HostProfile } from './host-profile.js';
export { migratePostcopy, type PostcopyMigrateOptions, type PostcopyOutcome } from './postcopy-migrate.js';
export { comparePostcopy, type PostcopyVariantResult } from './postcopy-compare.js';
