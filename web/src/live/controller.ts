/**
 * The live fleet: a REST snapshot kept current by socket.io pushes.
 *
 * - A (re)connect reloads the full fleet over REST, so nothing missed while offline stays stale —
 *   unless socket.io recovered the connection: then it has replayed the pushes missed meanwhile,
 *   and the fleet already shown is current.
 * - Pushes go through a coalescer: the store, and with it React and the map source, change at most
 *   once per interval, holding the latest fix per device.
 * - The stage filter applies at once to what is shown and then reloads, as the server decides what
 *   a lower filter adds.
 *
 * Framework-free: React reads the two stores with useSyncExternalStore (see LiveContext.tsx).
 */
import type { MachineCollection, MachineFeature, Stage } from '../../../shared/map.ts';
import { type Coalescer, createCoalescer, realTimers, type Timers } from './coalescer.ts';
import {
  applyStageFilter,
  type FleetIndex,
  indexFromSnapshot,
  isNotOlder,
  mergeUpdates,
  toCollection,
} from './fleet.ts';
import { createStore, type Store } from './store.ts';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

export interface FleetState {
  collection: MachineCollection;
  minStage: Stage;
  /** A REST snapshot for the current filter has been applied. */
  loaded: boolean;
}

/** The part of a socket.io client socket the controller uses (see socket.ts for the real one). */
export interface LiveSocket {
  /** `recovered`: socket.io resumed the previous session and replayed what it missed. */
  onConnect(listener: (recovered: boolean) => void): void;
  onDisconnect(listener: (reason: string) => void): void;
  onMachines(listener: (features: MachineFeature[]) => void): void;
  /** Reconnects after the server ended the session (socket.io does not retry that by itself). */
  connect(): void;
  close(): void;
}

export interface LiveDeps {
  connect: () => LiveSocket;
  fetchFleet: (minStage: Stage, signal: AbortSignal) => Promise<MachineCollection>;
  /** The stage filter to start with (default 0: every machine). */
  minStage?: Stage;
  /** Default 300 ms. */
  coalesceMs?: number;
  /** Delay before retrying a failed reload while connected; default 5 s. */
  retryMs?: number;
  timers?: Timers;
  onError?: (message: string, error: unknown) => void;
}

const EMPTY: MachineCollection = { type: 'FeatureCollection', features: [] };

export class LiveController {
  readonly fleet: Store<FleetState>;
  readonly connection: Store<ConnectionState> = createStore<ConnectionState>('connecting');

  readonly #deps: LiveDeps;
  readonly #timers: Timers;
  readonly #coalescer: Coalescer<MachineFeature>;
  #index: FleetIndex = new Map();
  #socket: LiveSocket | null = null;
  #request: AbortController | null = null;
  #retry: unknown = null;

  constructor(deps: LiveDeps) {
    this.#deps = deps;
    this.fleet = createStore<FleetState>({ collection: EMPTY, minStage: deps.minStage ?? 0, loaded: false });
    this.#timers = deps.timers ?? realTimers;
    this.#coalescer = createCoalescer<MachineFeature>({
      intervalMs: deps.coalesceMs ?? 300,
      key: (f) => f.properties.deviceId,
      pick: (current, next) => (isNotOlder(next, current) ? next : current),
      flush: (batch) => {
        if (mergeUpdates(this.#index, batch, this.fleet.get().minStage)) this.#publish({});
      },
      timers: this.#timers,
    });
  }

  get minStage(): Stage {
    return this.fleet.get().minStage;
  }

  /** Connects; idempotent. Safe to call again after stop(). */
  start(): void {
    if (this.#socket !== null) return;
    const socket = this.#deps.connect();
    this.#socket = socket;
    const current = () => this.#socket === socket;
    socket.onConnect((recovered) => {
      if (!current()) return;
      this.connection.set('live');
      if (!recovered || !this.fleet.get().loaded) void this.reload();
    });
    socket.onDisconnect((reason) => {
      if (!current()) return;
      this.connection.set('reconnecting');
      if (reason === 'io server disconnect') socket.connect();
    });
    socket.onMachines((features) => {
      if (current()) this.#coalescer.push(features);
    });
  }

  stop(): void {
    const socket = this.#socket;
    this.#socket = null;
    socket?.close();
    this.#coalescer.clear();
    this.#request?.abort();
    this.#request = null;
    this.#cancelRetry();
    this.connection.set('connecting');
  }

  setMinStage(minStage: Stage): void {
    if (minStage === this.minStage) return;
    applyStageFilter(this.#index, minStage);
    this.#publish({ minStage, loaded: false });
    if (this.#socket !== null) void this.reload();
  }

  /** Replaces the fleet with a fresh REST snapshot; a newer call cancels an older one. */
  async reload(): Promise<void> {
    this.#cancelRetry();
    this.#request?.abort();
    const request = new AbortController();
    this.#request = request;
    const minStage = this.minStage;
    try {
      const { features } = await this.#deps.fetchFleet(minStage, request.signal);
      if (request.signal.aborted) return;
      // Pushes still waiting in the coalescer go in first, so the newer-wins rule sees them.
      this.#coalescer.flushNow();
      this.#index = indexFromSnapshot(features, this.#index, minStage);
      this.#publish({ loaded: true });
    } catch (error) {
      if (request.signal.aborted) return;
      this.#deps.onError?.('could not load the fleet', error);
      if (this.connection.get() === 'live') this.#scheduleRetry();
    } finally {
      if (this.#request === request) this.#request = null;
    }
  }

  #publish(patch: Partial<Omit<FleetState, 'collection'>>): void {
    this.fleet.update((s) => ({ ...s, ...patch, collection: toCollection(this.#index) }));
  }

  #scheduleRetry(): void {
    this.#retry = this.#timers.setTimeout(() => {
      this.#retry = null;
      void this.reload();
    }, this.#deps.retryMs ?? 5000);
  }

  #cancelRetry(): void {
    if (this.#retry === null) return;
    this.#timers.clearTimeout(this.#retry);
    this.#retry = null;
  }
}
