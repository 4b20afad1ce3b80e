import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MachineCollection, MachineFeature, Stage } from '../../../shared/map.ts';
import { machine } from '../../../test/support/machine-features.ts';
import { LiveController, type LiveSocket } from './controller.ts';

class FakeSocket implements LiveSocket {
  connectListeners: ((recovered: boolean) => void)[] = [];
  disconnectListeners: ((reason: string) => void)[] = [];
  machineListeners: ((f: MachineFeature[]) => void)[] = [];
  reconnects = 0;
  closed = false;
  onConnect(l: (recovered: boolean) => void) {
    this.connectListeners.push(l);
  }
  onDisconnect(l: (reason: string) => void) {
    this.disconnectListeners.push(l);
  }
  onMachines(l: (f: MachineFeature[]) => void) {
    this.machineListeners.push(l);
  }
  connect() {
    this.reconnects++;
  }
  close() {
    this.closed = true;
  }
  fireConnect(recovered = false) {
    for (const l of this.connectListeners) l(recovered);
  }
  fireDisconnect(reason = 'transport close') {
    for (const l of this.disconnectListeners) l(reason);
  }
  push(features: MachineFeature[]) {
    for (const l of this.machineListeners) l(features);
  }
}

const T = (s: number) => new Date(Date.UTC(2025, 2, 1, 8, 0, s)).toISOString();
const fc = (...features: MachineFeature[]): MachineCollection => ({ type: 'FeatureCollection', features });

function setup(fleet: (minStage: Stage) => MachineCollection) {
  const socket = new FakeSocket();
  const fetches: Stage[] = [];
  const controller = new LiveController({
    connect: () => socket,
    fetchFleet: async (minStage) => {
      fetches.push(minStage);
      return fleet(minStage);
    },
    coalesceMs: 300,
  });
  let notifications = 0;
  controller.fleet.subscribe(() => notifications++);
  return { socket, controller, fetches, notifications: () => notifications };
}

const ids = (c: LiveController) =>
  c.fleet
    .get()
    .collection.features.map((f) => f.properties.deviceId)
    .sort();

describe('LiveController', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('loads the fleet over REST when the socket connects, and again after a reconnect', async () => {
    let generation = 0;
    const { socket, controller, fetches } = setup(() => fc(machine(`d${generation}`, T(0))));
    controller.start();
    expect(controller.connection.get()).toBe('connecting');
    socket.fireConnect();
    await vi.waitFor(() => expect(controller.fleet.get().loaded).toBe(true));
    expect(controller.connection.get()).toBe('live');
    expect(ids(controller)).toEqual(['d0']);

    socket.fireDisconnect();
    expect(controller.connection.get()).toBe('reconnecting');
    generation = 1;
    socket.fireConnect();
    await vi.waitFor(() => expect(ids(controller)).toEqual(['d1']));
    expect(fetches).toEqual([0, 0]);
  });

  it('keeps the fleet after a reconnect socket.io recovered, and reloads after one it could not', async () => {
    const { socket, controller, fetches } = setup(() => fc(machine('a', T(0))));
    controller.start();
    socket.fireConnect();
    await vi.waitFor(() => expect(controller.fleet.get().loaded).toBe(true));
    socket.fireDisconnect();
    // The pushes missed meanwhile come with the recovered session.
    socket.push([machine('a', T(5), {}, [101, 31])]);
    socket.fireConnect(true);
    expect(controller.connection.get()).toBe('live');
    vi.advanceTimersByTime(300);
    expect(controller.fleet.get().collection.features[0]!.properties.lastSeen).toBe(T(5));
    expect(fetches).toEqual([0]);

    socket.fireDisconnect();
    socket.fireConnect(false);
    await vi.waitFor(() => expect(fetches).toEqual([0, 0]));
  });

  it('reloads on a recovered reconnect when the fleet was never loaded', async () => {
    let fail = true;
    const { socket, controller, fetches } = setup(() => {
      if (fail) throw new Error('offline');
      return fc(machine('a', T(0)));
    });
    controller.start();
    socket.fireConnect();
    await vi.waitFor(() => expect(fetches).toEqual([0]));
    socket.fireDisconnect();
    fail = false;
    socket.fireConnect(true);
    await vi.waitFor(() => expect(controller.fleet.get().loaded).toBe(true));
    expect(fetches).toEqual([0, 0]);
  });

  it('applies a burst of pushes as one store change holding the latest fix per device', async () => {
    const { socket, controller, notifications } = setup(() => fc(machine('a', T(0)), machine('b', T(0))));
    controller.start();
    socket.fireConnect();
    await vi.waitFor(() => expect(controller.fleet.get().loaded).toBe(true));
    const before = notifications();

    for (let s = 1; s <= 50; s++) {
      socket.push([machine('a', T(s), {}, [100 + s, 30]), machine('c', T(s), {}, [110, 30 + s / 10])]);
    }
    expect(notifications()).toBe(before);
    vi.advanceTimersByTime(300);
    expect(notifications()).toBe(before + 1);

    const byId = new Map(controller.fleet.get().collection.features.map((f) => [f.properties.deviceId, f]));
    expect([...byId.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(byId.get('a')?.geometry.coordinates).toEqual([150, 30]);
    expect(byId.get('a')?.properties.lastSeen).toBe(T(50));
  });

  it('filters by stage at once, then reloads for the new filter', async () => {
    const all = [
      machine('ok', T(0), { stage: 0 }),
      machine('late', T(0), { stage: 3 }),
      machine('none', T(0), { stage: null }),
    ];
    const { socket, controller, fetches } = setup((min) =>
      fc(...all.filter((f) => min === 0 || (f.properties.stage ?? -1) >= min)),
    );
    controller.start();
    socket.fireConnect();
    await vi.waitFor(() => expect(ids(controller)).toEqual(['late', 'none', 'ok']));

    controller.setMinStage(2);
    expect(controller.fleet.get()).toMatchObject({ minStage: 2, loaded: false });
    expect(ids(controller)).toEqual(['late']);
    await vi.waitFor(() => expect(controller.fleet.get().loaded).toBe(true));
    expect(fetches).toEqual([0, 2]);

    // A push for a machine below the filter does not show it.
    socket.push([machine('ok', T(5), { stage: 0 })]);
    vi.advanceTimersByTime(300);
    expect(ids(controller)).toEqual(['late']);
  });

  it('stops listening after stop() and can start again', async () => {
    const { socket, controller } = setup(() => fc(machine('a', T(0))));
    controller.start();
    controller.stop();
    expect(socket.closed).toBe(true);
    socket.fireConnect();
    socket.push([machine('z', T(9))]);
    vi.advanceTimersByTime(1000);
    expect(ids(controller)).toEqual([]);
    controller.start();
    socket.fireConnect();
    await vi.waitFor(() => expect(ids(controller)).toEqual(['a']));
  });

  it('asks the socket to reconnect when the server ended the session', () => {
    const { socket, controller } = setup(() => fc());
    controller.start();
    socket.fireDisconnect('io server disconnect');
    expect(socket.reconnects).toBe(1);
  });
});
