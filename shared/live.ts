/** Live updates: the socket.io event map shared by the api and the web app (a wrong payload fails
 * to compile), and the broker topics on which ingest and the api announce what changed; one api
 * node turns each announcement into pushes for the browsers of every node (api/map/live.ts). */
import type { AlertView } from './alerts.ts';
import type { MachineFeature } from './map.ts';

/** Ingest publishes committed position advances here (QoS 0: the database stays the truth, and a
 * web client reloads over REST after a reconnect). */
export const LIVE_POSITIONS_TOPIC = 'platform/live/positions';

export interface PositionUpdate {
  deviceId: string;
  /** Device time of the fix, ISO 8601. */
  ts: string;
  lat: number;
  lon: number;
  spd: number | null;
  ign: boolean | null;
  hrs: number | null;
  rly: boolean | null;
}

export interface ServerToClientEvents {
  /** Positions that moved forward since the last push, coalesced per device. */
  'machines:update': (features: MachineFeature[]) => void;
  /** Accounts whose stage changed (payment, record, the daily recomputation), oldest first. */
  'stages:update': (changes: StageChange[]) => void;
  /** Remote-command transitions (requested, approved, sent, acknowledged, executed …), in order. */
  'commands:update': (updates: CommandUpdate[]) => void;
  /** Alerts raised, seen again after a pause, cleared or acknowledged (shared/alerts.ts). */
  'alerts:update': (alerts: AlertView[]) => void;
}

// biome-ignore lint/complexity/noBannedTypes: no client-to-server events yet
export type ClientToServerEvents = {};

/** The api announces every stage change here, whichever node made it, for the live feed. */
export const LIVE_STAGES_TOPIC = 'platform/live/stages';

export interface StageChange {
  contractId: string;
  contractNumber: string;
  machineId: string;
  from: number | null;
  to: number;
  /** ISO instant the change was recorded. */
  at: string;
  reason: string;
}

/** Ingest (rules on committed batches), the silence check and acknowledgements announce alerts here. */
export const LIVE_ALERTS_TOPIC = 'platform/live/alerts';

/** The api announces every command transition here, whichever node made it, for the live feed. */
export const LIVE_COMMANDS_TOPIC = 'platform/live/commands';

export interface CommandUpdate {
  commandId: string;
  deviceId: string;
  contractId: string | null;
  type: string;
  from: string | null;
  to: string;
  /** ISO instant. */
  at: string;
  actor: string;
  reason: string;
}
