// Shared Stryker settings. `npm run mutate` runs one configuration per source folder so that
// each folder gets its own score and its own incremental file (re-runs only test what changed).
export function mutationConfig(folder) {
  return {
    testRunner: 'vitest',
    vitest: { configFile: 'vitest.mutate.config.ts' },
    mutate: [`src/${folder}/**/*.ts`, '!src/**/index.ts'],
    coverageAnalysis: 'perTest',
    concurrency: 2,
    reporters: ['clear-text', 'progress', 'html', 'json'],
    htmlReporter: { fileName: `reports/mutation/${folder}.html` },
    jsonReporter: { fileName: `reports/mutation/${folder}.json` },
    thresholds: { high: 90, low: 80, break: 80 },
    tempDirName: '.stryker-tmp',
    timeoutMS: 3000,
    ignoreStatic: true,
    incremental: true,
    incrementalFile: `stryker/incremental-${folder}.json`,
  };
}
