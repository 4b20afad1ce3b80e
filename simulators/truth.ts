/**
 * What really happened to a simulated machine, as the simulator knows it and the platform can only
 * infer: transports, faults of the box, the story machine's run. Planned by the life (life.ts) and
 * the story (story.ts), both of which need the type, so it lives apart from either.
 */
import type { Fault } from './faults.ts';
import type { LatLon } from './geo.ts';

export interface TruthEvent {
  kind: 'transport' | Fault['kind'] | 'story';
  from: number;
  /** null: has not ended (the story machine's silence). */
  to: number | null;
  note: string;
  at?: LatLon;
}
