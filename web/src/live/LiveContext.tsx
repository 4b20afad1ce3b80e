/** Makes one LiveController available to the tree; components read its stores through hooks. */
import { createContext, type ReactNode, useContext, useEffect, useSyncExternalStore } from 'react';
import type { ConnectionState, FleetState, LiveController } from './controller.ts';

const LiveContext = createContext<LiveController | null>(null);

/** Starts the controller while mounted (StrictMode's mount-unmount-mount is fine: start/stop pair up). */
export function LiveProvider({ controller, children }: { controller: LiveController; children: ReactNode }) {
  useEffect(() => {
    controller.start();
    return () => controller.stop();
  }, [controller]);
  return <LiveContext value={controller}>{children}</LiveContext>;
}

export function useLive(): LiveController {
  const controller = useContext(LiveContext);
  if (controller === null) throw new Error('useLive() outside <LiveProvider>');
  return controller;
}

export function useFleet(): FleetState {
  const { fleet } = useLive();
  return useSyncExternalStore(fleet.subscribe, fleet.get);
}

export function useConnection(): ConnectionState {
  const { connection } = useLive();
  return useSyncExternalStore(connection.subscribe, connection.get);
}
