/** The socket.io event map shared by the api and the web app: a wrong payload fails to compile. */
import type { MachineFeature } from './map.ts';

export interface ServerToClientEvents {
  /** Positions that moved forward since the last push, coalesced per device. */
  'machines:update': (features: MachineFeature[]) => void;
}

// biome-ignore lint/complexity/noBannedTypes: no client-to-server events yet
export type ClientToServerEvents = {};
