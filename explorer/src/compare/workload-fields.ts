/** The main parameters of each workload the form offers (the rest keep their defaults). */
import { COMPILE_DEFAULTS, FREED_DEFAULTS, HOG_DEFAULTS, IDLE_DEFAULTS, type WorkloadName } from 'freehint';

export interface WorkloadField {
  /** The key in the scenario's `workloadParams`. */
  readonly key: string;
  readonly label: string;
  /** A size (512M), a size per second (64M), or a plain count. */
  readonly kind: 'size' | 'rate' | 'count';
  /** The default on a guest large enough for it (small guests scale some defaults down). */
  readonly nominal: number;
}

const size = (key: string, label: string, nominal: number): WorkloadField => ({ key, label, kind: 'size', nominal });
const rate = (key: string, label: string, nominal: number): WorkloadField => ({ key, label, kind: 'rate', nominal });

export const WORKLOAD_FIELDS: Readonly<Record<WorkloadName, readonly WorkloadField[]>> = {
  idle: [size('residentBytes', 'resident memory', IDLE_DEFAULTS.residentBytes), rate('dirtyBytesPerSec', 'background writes', IDLE_DEFAULTS.dirtyBytesPerSec)],
  compile: [
    { key: 'jobs', label: 'parallel jobs', kind: 'count', nominal: COMPILE_DEFAULTS.jobs },
    size('jobBytes', 'memory per job', COMPILE_DEFAULTS.jobBytes),
    rate('jobWriteBytesPerSec', 'writes per job', COMPILE_DEFAULTS.jobWriteBytesPerSec),
  ],
  sanitize: [{ key: 'jobs', label: 'parallel jobs', kind: 'count', nominal: COMPILE_DEFAULTS.jobs }, size('jobBytes', 'memory per job', COMPILE_DEFAULTS.jobBytes)],
  hog: [size('workingSetBytes', 'working set', HOG_DEFAULTS.workingSetBytes), rate('dirtyBytesPerSec', 'rewrite rate', HOG_DEFAULTS.dirtyBytesPerSec)],
  'written-then-freed': [size('writtenBytes', 'written, then freed', FREED_DEFAULTS.writtenBytes), rate('dirtyBytesPerSec', 'background writes', FREED_DEFAULTS.dirtyBytesPerSec)],
};

/** A byte count as the form shows it: 192M, 2G, 1.5K… */
export function sizeText(bytes: number): string {
  for (const [unit, scale] of [
    ['T', 2 ** 40],
    ['G', 2 ** 30],
    ['M', 2 ** 20],
    ['K', 2 ** 10],
  ] as const) {
    if (bytes >= scale) return `${Number((bytes / scale).toFixed(2))}${unit}`;
  }
  return String(bytes);
}

/** A field's default, as a placeholder. */
export function nominalText(field: WorkloadField): string {
  if (field.kind === 'count') return String(field.nominal);
  return field.kind === 'rate' ? `${sizeText(field.nominal)}/s` : sizeText(field.nominal);
}
