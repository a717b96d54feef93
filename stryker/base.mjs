// Shared Stryker settings. `npm run mutate` runs one configuration per source folder so that
// each folder gets its own score and its own incremental file (a re-run on the same machine only
// tests what changed).
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
    // Scores under 80% show red; no break, so one folder's score never hides the other's.
    thresholds: { high: 90, low: 80, break: null },
    tempDirName: '.stryker-tmp',
    timeoutMS: 3000,
    ignoreStatic: true,
    incremental: true,
    // Machine-specific (it records the project root), so it stays with the ignored reports.
    incrementalFile: `reports/mutation/incremental-${folder}.json`,
  };
}
