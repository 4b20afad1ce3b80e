/** The escalation ladder as the map shows it: one colour per stage, grey without a contract. */
import type { Stage } from '../../../shared/map.ts';

export const STAGES: readonly Stage[] = [0, 1, 2, 3];

export const STAGE_COLORS: Record<Stage, string> = {
  0: '#2e9d4f',
  1: '#f2c12e',
  2: '#f0802a',
  3: '#d93636',
};
export const NO_CONTRACT_COLOR = '#9aa0a6';
/** The ring drawn round a machine whose relay is engaged (starter or fuel circuit cut). */
export const RELAY_ENGAGED_COLOR = '#1b1b3a';

/** The api's answers carry a stage as an integer 0-3 (shared/api/contracts.ts). */
export function stageColor(stage: Stage | number | null): string {
  return stage === null ? NO_CONTRACT_COLOR : STAGE_COLORS[stage as Stage];
}
