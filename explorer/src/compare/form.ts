/**
 * The scenario form: its choices come from the core's own lists, and what it reads is plain
 * input for `checkScenario`, exactly what a scenario file for `freehint run` holds.
 */
import { DEFAULT_STRATEGIES, FREE_POLICIES, HOST_NAMES, PUBLISHED_SETUP, WORKLOADS, type WorkloadName } from 'freehint';
import { nominalText, WORKLOAD_FIELDS } from './workload-fields.js';

/** A scenario as plain data, keyed as in a scenario file. */
export type ScenarioInput = Readonly<Record<string, unknown>>;

/** The strategies ticked at first: the legacy baseline against hints. */
const FIRST_PICKED = new Set(['zero', 'zero+hint', 'zero+report']);

function element<T extends Element>(root: ParentNode, selector: string, type: new () => T): T {
  const found = root.querySelector(selector);
  if (!(found instanceof type)) throw new Error(`the page has no ${selector}`);
  return found;
}

const field = (form: HTMLFormElement, name: string): HTMLInputElement => element(form, `[name="${name}"]`, HTMLInputElement);
const choice = (form: HTMLFormElement, name: string): HTMLSelectElement => element(form, `select[name="${name}"]`, HTMLSelectElement);

function options(select: HTMLSelectElement, values: readonly string[], selected: string): void {
  select.replaceChildren(...values.map((value) => new Option(value, value, value === selected, value === selected)));
}

/** Fill the form's choices; the defaults are the published setup's, on a 1 GiB guest so a run takes seconds. */
export function fillForm(form: HTMLFormElement): void {
  options(choice(form, 'workload'), WORKLOADS, PUBLISHED_SETUP.workload);
  options(choice(form, 'freePolicy'), FREE_POLICIES, PUBLISHED_SETUP.freePolicy);
  options(choice(form, 'host'), HOST_NAMES, PUBLISHED_SETUP.host);
  const strategies = element(form, '#strategies', HTMLFieldSetElement);
  for (const strategy of DEFAULT_STRATEGIES) {
    const label = document.createElement('label');
    label.className = 'check';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.name = 'strategy';
    box.value = strategy;
    box.checked = FIRST_PICKED.has(strategy);
    label.append(box, ` ${strategy}`);
    strategies.append(label);
  }
  showWorkloadFields(form);
}

/** The inputs of the chosen workload's main parameters, empty for its default. */
export function showWorkloadFields(form: HTMLFormElement): void {
  const workload = choice(form, 'workload').value as WorkloadName;
  const container = element(form, '#workload-params', HTMLDivElement);
  container.replaceChildren(
    ...WORKLOAD_FIELDS[workload].map((f) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.name = `param:${f.key}`;
      input.placeholder = `default ${nominalText(f)}`;
      input.autocomplete = 'off';
      input.title = f.kind === 'count' ? 'a whole number' : f.kind === 'rate' ? 'bytes per second, like 64M' : 'a size, like 512M or 2G';
      label.append(`${f.label} `, input);
      return label;
    }),
  );
}

/** What the form says, as scenario input (unchecked: `checkScenario` says what is wrong). */
export function scenarioInput(form: HTMLFormElement): ScenarioInput {
  const workload = choice(form, 'workload').value as WorkloadName;
  const params: Record<string, string> = {};
  for (const f of WORKLOAD_FIELDS[workload]) {
    // Missing while the form swaps one workload's fields for another's.
    const input = form.querySelector<HTMLInputElement>(`input[name="param:${f.key}"]`);
    const text = (input?.value ?? '').trim().replace(/\/s$/i, '');
    if (text !== '') params[f.key] = text;
  }
  const strategies = [...form.querySelectorAll<HTMLInputElement>('input[name="strategy"]:checked')].map((box) => box.value);
  return {
    guest: field(form, 'guest').value.trim(),
    workload,
    ...(Object.keys(params).length > 0 ? { workloadParams: params } : {}),
    freePolicy: choice(form, 'freePolicy').value,
    initOnAlloc: field(form, 'initOnAlloc').checked,
    vcpus: field(form, 'vcpus').value.trim(),
    host: choice(form, 'host').value,
    bandwidth: field(form, 'bandwidth').value.trim(),
    // An empty list is refused by checkScenario with its own message.
    strategies: strategies.length > 0 ? strategies : '',
    seed: field(form, 'seed').value.trim(),
  };
}

/**
 * The command that runs the same scenario: `compare` when its options say it all, otherwise
 * `run` with the scenario as a file.
 */
export function cliCommand(input: ScenarioInput): string {
  const text = (key: string): string => String(input[key]);
  const strategies = Array.isArray(input['strategies']) ? input['strategies'].join(',') : text('strategies');
  if (input['workloadParams'] === undefined) {
    return [
      'npx freehint compare',
      `--guest ${text('guest')}`,
      `--workloads ${text('workload')}`,
      `--free-policies ${text('freePolicy')}`,
      `--strategies ${strategies}`,
      `--host ${text('host')}`,
      `--vcpus ${text('vcpus')}`,
      `--bandwidth ${text('bandwidth')}`,
      ...(input['initOnAlloc'] === true ? ['--init-on-alloc'] : []),
      `--seed ${text('seed')}`,
    ].join(' ');
  }
  return `cat > scenario.json <<'EOF'\n${JSON.stringify(input, null, 2)}\nEOF\nnpx freehint run scenario.json`;
}
