/**
 * The comparison page: a scenario form, a worker that runs it, a progress bar, the results
 * table and the charts. The page thread only draws; the simulation runs in the worker.
 */
import { checkScenario, ScenarioError, type StrategyResult } from 'freehint';
import embed from 'vega-embed';
import { comparisonCharts } from './charts.js';
import { cliCommand, fillForm, scenarioInput, showWorkloadFields, type ScenarioInput } from './form.js';
import type { RunRequest, WorkerReply } from './protocol.js';
import { resultsTable } from './table.js';

function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`the page has no #${id}`);
  return found;
}

const form = byId('scenario', HTMLFormElement);
const runButton = byId('run', HTMLButtonElement);
const cancelButton = byId('cancel', HTMLButtonElement);
const problem = byId('scenario-error', HTMLParagraphElement);
const command = byId('cli-command', HTMLPreElement);
const progress = byId('progress', HTMLProgressElement);
const progressLabel = byId('progress-label', HTMLSpanElement);
const tableBox = byId('table', HTMLDivElement);
const chartBox = byId('charts', HTMLDivElement);

let worker: Worker | undefined;

/** The form's scenario, checked; says what is wrong under the form and returns undefined if anything is. */
function checkedInput(): ScenarioInput | undefined {
  const input = scenarioInput(form);
  command.textContent = cliCommand(input);
  try {
    checkScenario(input);
    problem.textContent = '';
    runButton.disabled = worker !== undefined;
    return input;
  } catch (error) {
    problem.textContent = error instanceof ScenarioError ? error.message : String(error);
    runButton.disabled = true;
    return undefined;
  }
}

function setRunning(running: boolean): void {
  runButton.disabled = running;
  cancelButton.disabled = !running;
  document.body.dataset['state'] = running ? 'running' : 'idle';
}

async function show(results: readonly StrategyResult[], input: ScenarioInput): Promise<void> {
  tableBox.replaceChildren(resultsTable(results));
  const scenario = checkScenario(input);
  await embed(chartBox, comparisonCharts(results, scenario.downtimeLimitMs), { actions: { export: true, source: false, compiled: false, editor: false }, renderer: 'svg' });
}

function stop(): void {
  worker?.terminate();
  worker = undefined;
  setRunning(false);
  checkedInput();
}

function run(input: ScenarioInput): void {
  stop();
  setRunning(true);
  progress.value = 0;
  progressLabel.textContent = 'booting the guest…';
  const started = performance.now();
  const current = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker = current;
  current.onmessage = ({ data }: MessageEvent<WorkerReply>) => {
    if (worker !== current) return;
    switch (data.kind) {
      case 'progress':
        progress.value = data.done / data.runs;
        progressLabel.textContent = `${data.done} of ${data.runs} runs · ${data.label}`;
        return;
      case 'results':
        stop();
        progress.value = 1;
        progressLabel.textContent = `${data.results.length} runs in ${((performance.now() - started) / 1000).toFixed(1)} s of wall time; every figure is simulated. ${data.results.every((r) => r.verified) ? 'Every destination verified.' : 'Some runs did NOT verify.'}`;
        document.body.dataset['results'] = String(data.results.length);
        show(data.results, input).catch((error: unknown) => (progressLabel.textContent = `The charts failed: ${error instanceof Error ? error.message : String(error)}`));
        return;
      case 'error':
        stop();
        progressLabel.textContent = `Failed: ${data.message}`;
        return;
    }
  };
  current.onerror = (event) => {
    stop();
    progressLabel.textContent = `The worker failed: ${event.message}`;
  };
  const request: RunRequest = { kind: 'run', scenario: input };
  current.postMessage(request);
}

fillForm(form);
// A select fires `input` as well as `change`: check on both, swap the workload's fields first.
const onEdit = (event: Event): void => {
  if (event.type === 'change' && event.target instanceof HTMLSelectElement && event.target.name === 'workload') showWorkloadFields(form);
  checkedInput();
};
form.addEventListener('input', onEdit);
form.addEventListener('change', onEdit);
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = checkedInput();
  if (input !== undefined) run(input);
});
cancelButton.addEventListener('click', () => {
  stop();
  progressLabel.textContent = 'Cancelled.';
  checkedInput();
});
setRunning(false);
checkedInput();
