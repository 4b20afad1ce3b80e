/** The real socket: socket.io on the page's origin, default path, reconnecting forever. */
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../../shared/live.ts';
import { currentToken, sessionStore } from '../auth/session.ts';
import type { LiveSocket } from './controller.ts';
import { publishNotice } from './events.ts';

export function connectLiveSocket(): LiveSocket {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io({
    reconnectionDelay: 1000,
    reconnectionDelayMax: 10_000,
    // A function, so every reconnect sends the token of the session as it is then.
    auth: (send) => send({ token: currentToken() ?? '' }),
  });
  // The server refuses a handshake without a valid token; that ends the session, no retrying.
  socket.on('connect_error', (e) => {
    if (e.message === 'unauthorized') {
      socket.disconnect();
      sessionStore.expire();
    }
  });
  socket.on('commands:update', (u) => publishNotice('commands:update', u));
  socket.on('alerts:update', (u) => publishNotice('alerts:update', u));
  socket.on('stages:update', (u) => publishNotice('stages:update', u));
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
