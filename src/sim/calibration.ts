/**
 * Checking the model against measured migrations: a reference table gives, per setup, the time
 * of a migration without and with free page hints; the model runs the same setup on the
 * table's host profile and must order the two the same way and change the time by about as much.
 */
import { runStrategy, withReductions } from './compare.js';
import { checkScenario } from './scenario.js';

/** One measured setup: a scenario (as in a scenario file) and its two migration times. */
export interface ReferenceRow {
  readonly label: string;
  readonly scenario: Readonly<Record<string, unknown>>;
  /** Migration time without hints (QEMU's default: zero page detection), ms. */
  readonly legacyMs: number;
  /** The same with free page hints, ms. */
  readonly hintMs: number;
  /**
   * For a measured row, the 90% interval of its change (hint against legacy) that its own
   * repetitions give: how precisely the reference knows it.
   */
  readonly changeInterval?: readonly [number, number];
}

/** Published or measured results, all on one host. */
export interface ReferenceTable {
  readonly name: string;
  readonly source: string;
  /** The host profile the model runs them on. */
  readonly host: string;
  /** How far the model's change may be from the reference's, in percentage points. */
  readonly tolerancePoints: number;
  readonly rows: readonly ReferenceRow[];
}

export type Ordering = 'hints faster' | 'hints slower' | 'within 3%';

/** Changes within this band are ties: neither is faster. */
export const TIE_BAND = 0.03;

/** How hints compare, from the two times. */
export function ordering(legacyMs: number, hintMs: number): Ordering {
  const change = hintMs / legacyMs - 1;
  return change < -TIE_BAND ? 'hints faster' : change > TIE_BAND ? 'hints slower' : 'within 3%';
}

export interface CalibrationRow {
  readonly label: string;
  readonly reference: { readonly legacyMs: number; readonly hintMs: number; readonly change: number; readonly ordering: Ordering; readonly changeInterval?: readonly [number, number] };
  readonly model: { readonly legacyMs: number; readonly hintMs: number; readonly change: number; readonly ordering: Ordering; readonly verified: boolean };
  /**
   * How far the model's change may be from the reference's, in points: the table's tolerance,
   * or half the width of the reference's own interval when that is wider (a row cannot be held
   * closer than its repetitions agree with each other).
   */
  readonly tolerancePoints: number;
  /** The model's change is within {@link tolerancePoints} of the reference's. */
  readonly withinTolerance: boolean;
  /** The model orders hints as the reference does, or its change lies inside the reference's interval. */
  readonly orderingRight: boolean;
}

/** Run the model on one row of a table: `zero` against `zero+hint`, on the table's host. */
export function calibrate(table: ReferenceTable, row: ReferenceRow): CalibrationRow {
  const scenario = checkScenario({ ...row.scenario, host: table.host, strategies: ['zero', 'zero+hint'] });
  const [legacy, hint] = withReductions(scenario.strategies.map((s) => runStrategy(scenario, s)));
  const refChange = row.hintMs / row.legacyMs - 1;
  const modelChange = hint!.reductionVsZero!;
  const interval = row.changeInterval;
  const tolerancePoints = Math.max(table.tolerancePoints, interval ? ((interval[1] - interval[0]) / 2) * 100 : 0);
  const modelOrdering = ordering(legacy!.simulatedMs, hint!.simulatedMs);
  return {
    label: row.label,
    reference: { legacyMs: row.legacyMs, hintMs: row.hintMs, change: refChange, ordering: ordering(row.legacyMs, row.hintMs), ...(interval ? { changeInterval: interval } : {}) },
    model: { legacyMs: legacy!.simulatedMs, hintMs: hint!.simulatedMs, change: modelChange, ordering: modelOrdering, verified: legacy!.verified && hint!.verified },
    tolerancePoints,
    withinTolerance: Math.abs(modelChange - refChange) * 100 <= tolerancePoints,
    orderingRight: modelOrdering === ordering(row.legacyMs, row.hintMs) || (interval !== undefined && modelChange >= interval[0] && modelChange <= interval[1]),
  };
}
