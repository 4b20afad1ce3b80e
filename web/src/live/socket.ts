/**
 * The real socket: socket.io on the page's origin, default path, reconnecting forever.
 *
 * Behind a load balancer with several api nodes: the transports stay the default (long-polling,
 * then the upgrade to WebSocket), which needs every request of one connection on one node — the
 * balancer's cookie stickiness does that, and the page's own origin sends the cookie. When the
 * node goes away the socket reconnects, through the balancer, to another one; socket.io resumes
 * the session there (`socket.recovered`, with the pushes missed meanwhile) when it can, and when
 * it cannot, the fleet and the pages reload what they show over REST.
 */
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../../shared/live.ts';
import { currentToken, sessionStore } from '../auth/session.ts';
import type { LiveSocket } from './controller.ts';
import { publishNotice, publishResync } from './events.ts';

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
  let connectedBefore = false;
  socket.on('connect', () => {
    if (connectedBefore && !socket.recovered) publishResync();
    connectedBefore = true;
  });
  socket.on('commands:update', (u) => publishNotice('commands:update', u));
  socket.on('alerts:update', (u) => publishNotice('alerts:update', u));
  socket.on('stages:update', (u) => publishNotice('stages:update', u));
  return {
    onConnect: (listener) => void socket.on('connect', () => listener(socket.recovered)),
    onDisconnect: (listener) => void socket.on('disconnect', (reason) => listener(reason)),
    onMachines: (listener) => void socket.on('machines:update', listener),
    connect: () => void socket.connect(),
    close: () => {
      socket.removeAllListeners();
      socket.disconnect();
    },
  };
}
