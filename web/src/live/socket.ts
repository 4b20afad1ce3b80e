/** The real socket: socket.io on the page's origin, default path, reconnecting forever. */
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../../shared/live.ts';
import type { LiveSocket } from './controller.ts';

export function connectLiveSocket(): LiveSocket {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
    reconnectionDelay: 1000,
    reconnectionDelayMax: 10_000,
  });
  return {
    onConnect: (listener) => void socket.on('connect', listener),
    onDisconnect: (listener) => void socket.on('disconnect', (reason) => listener(reason)),
    onMachines: (listener) => void socket.on('machines:update', listener),
    connect: () => void socket.connect(),
    close: () => {
      socket.removeAllListeners();
      socket.disconnect();
    },
  };
}
