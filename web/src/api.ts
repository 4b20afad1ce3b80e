/** The REST calls the web app makes. Same origin: the api serves the app (vite proxies in dev). */
import type { MachineCollection, Stage } from '../../shared/map.ts';
import { currentToken, type Session, sessionStore } from './auth/session.ts';

/** `GET /api/config`: what the app needs to know at start. */
export interface WebConfig {
  /** A MapLibre style URL to use instead of the offline basemap; null = offline. */
  mapStyleUrl: string | null;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json', ...extra };
  const token = currentToken();
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

/** The api's own message when it sent one (4xx pass theirs through), else the status. */
async function failure(res: Response, what: string): Promise<HttpError> {
  const body = (await res.json().catch(() => null)) as { message?: string } | null;
  return new HttpError(res.status, body?.message ? body.message : `${what}: HTTP ${res.status}`);
}

/** Every call carries the bearer token; a 401 ends the session (the app shows the login screen). */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: headers(), signal: signal ?? null });
  if (res.status === 401) sessionStore.expire();
  if (!res.ok) throw await failure(res, `GET ${path}`);
  return (await res.json()) as T;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify(body ?? {}),
  });
  if (res.status === 401) sessionStore.expire();
  if (!res.ok) throw await failure(res, `POST ${path}`);
  return (await res.json()) as T;
}

/** Fetches a file with the token and hands it to the browser as a download. */
export async function download(path: string, filename: string): Promise<void> {
  const res = await fetch(path, { headers: headers({ accept: '*/*' }) });
  if (res.status === 401) sessionStore.expire();
  if (!res.ok) throw await failure(res, `GET ${path}`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function fetchConfig(signal?: AbortSignal): Promise<WebConfig> {
  const c = await getJson<Partial<WebConfig>>('/api/config', signal);
  return { mapStyleUrl: typeof c.mapStyleUrl === 'string' && c.mapStyleUrl !== '' ? c.mapStyleUrl : null };
}

export function fetchMachines(minStage: Stage, signal?: AbortSignal): Promise<MachineCollection> {
  return getJson<MachineCollection>(`/api/map/machines?minStage=${minStage}`, signal);
}

/** Why a sign-in failed, for the login screen to say in the user's language. */
export class LoginError extends Error {
  constructor(
    readonly code: 'wrong' | 'throttled' | 'unreachable' | 'failed',
    message: string,
    /** With `throttled`: seconds until the next try is let through (the Retry-After header). */
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
  }
}

/** `POST /api/auth/login`: the session, or a LoginError. */
export async function login(username: string, password: string): Promise<Session> {
  let res: Response;
  try {
    res = await fetch('/api/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ username, password }),
    });
  } catch {
    throw new LoginError('unreachable', 'The server cannot be reached. Check the connection and try again.');
  }
  const body = (await res.json().catch(() => ({}))) as Partial<Session> & { message?: string };
  if (res.status === 401) throw new LoginError('wrong', 'Wrong username or password.');
  if (res.status === 429) {
    const retry = Number(res.headers.get('retry-after'));
    throw new LoginError(
      'throttled',
      body.message ?? 'Too many failed sign-ins.',
      Number.isFinite(retry) && retry > 0 ? retry : null,
    );
  }
  if (!res.ok || !body.token || !body.user || !body.expiresAt) {
    throw new LoginError('failed', body.message ?? `Sign-in failed (HTTP ${res.status}).`);
  }
  return { token: body.token, user: body.user, expiresAt: body.expiresAt };
}
