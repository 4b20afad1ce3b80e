/**
 * The session's live notices other than positions (commands, alerts, stage changes), for the pages
 * that show them. The socket (socket.ts) feeds it; a page subscribes while mounted and reloads what
 * it shows over REST, so a missed notice only delays an update, it never loses one. After a
 * reconnect that socket.io could not recover (the notices missed meanwhile are gone), the socket
 * asks every page to reload (useResync).
 */
import { useEffect, useRef } from 'react';
import type { ServerToClientEvents } from '../../../shared/live.ts';

export type NoticeName = 'commands:update' | 'alerts:update' | 'stages:update';
type Payload<N extends NoticeName> = Parameters<ServerToClientEvents[N]>[0];

const listeners = new Map<NoticeName, Set<(payload: never) => void>>();

export function publishNotice<N extends NoticeName>(name: N, payload: Payload<N>): void {
  for (const l of listeners.get(name) ?? []) (l as (p: Payload<N>) => void)(payload);
}

export function subscribeNotice<N extends NoticeName>(
  name: N,
  listener: (payload: Payload<N>) => void,
): () => void {
  let set = listeners.get(name);
  if (!set) {
    set = new Set();
    listeners.set(name, set);
  }
  set.add(listener as (payload: never) => void);
  return () => set.delete(listener as (payload: never) => void);
}

const resyncListeners = new Set<() => void>();

/** The live connection is back without the notices it missed: whatever a page shows may be stale. */
export function publishResync(): void {
  for (const l of resyncListeners) l();
}

/** Calls `onResync` while mounted when the live connection came back without what it missed. */
export function useResync(onResync: () => void): void {
  const ref = useRef(onResync);
  useEffect(() => {
    ref.current = onResync;
  });
  useEffect(() => {
    const listener = () => ref.current();
    resyncListeners.add(listener);
    return () => void resyncListeners.delete(listener);
  }, []);
}

/** Calls `onNotice` for each notice while mounted (the latest callback, without resubscribing). */
export function useNotice<N extends NoticeName>(name: N, onNotice: (payload: Payload<N>) => void): void {
  const ref = useRef(onNotice);
  useEffect(() => {
    ref.current = onNotice;
  });
  useEffect(() => subscribeNotice(name, (p) => ref.current(p)), [name]);
}
