/**
 * The signed-in user of this tab: the token and who it belongs to, kept in sessionStorage (gone
 * when the tab closes, not shared with other tabs). Anything that gets a 401 calls expire(), and the
 * app goes back to the login screen.
 */
import type { Role } from '../../../shared/roles.ts';

export interface SessionUser {
  id: string;
  username: string;
  name: string;
  roles: Role[];
}

export interface Session {
  token: string;
  user: SessionUser;
  expiresAt: string;
}

export type SessionState = { session: Session | null; expired: boolean };

const KEY = 'recovery.session';
const listeners = new Set<() => void>();
let state: SessionState = { session: read(), expired: false };

function read(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return typeof s.token === 'string' && Date.parse(s.expiresAt) > Date.now() ? s : null;
  } catch {
    return null;
  }
}

function set(next: SessionState): void {
  state = next;
  if (next.session) sessionStorage.setItem(KEY, JSON.stringify(next.session));
  else sessionStorage.removeItem(KEY);
  for (const l of listeners) l();
}

export const sessionStore = {
  get: (): SessionState => state,
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  signIn: (session: Session) => set({ session, expired: false }),
  signOut: () => set({ session: null, expired: false }),
  /** The server refused the token (expired, revoked, user disabled): back to the login screen. */
  expire: () => {
    if (state.session) set({ session: null, expired: true });
  },
};

export const currentToken = (): string | null => state.session?.token ?? null;
