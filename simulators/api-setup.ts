/**
 * Sets up a platform for a simulated fleet through its HTTP api, as the embedded demo does in
 * process (simulators/demo-fleet.ts): signs in, provisions every box with its machine (POST /api/devices),
 * then saves the demo contracts (POST /api/contracts, upsert by number, with their schedules and
 * payments in fen). Everything it sends is idempotent, so running it again with the same seed
 * refreshes the same devices and contracts. Speaks only the api's JSON: nothing here reaches into
 * the platform's code.
 */
import type { IsoDate } from '../shared/calendar-date.ts';
import type { DemoContract } from './demo-contracts.ts';
import type { SimMachine } from './fleet.ts';
import { deviceProvision, fleetContracts } from './provisioning.ts';

export interface ApiLogin {
  url: string;
  user: string;
  password: string;
}

/** A step that failed; the message is one line naming the api and what it said. */
export class ApiSetupError extends Error {}

export interface ApiSetupResult {
  devices: { created: number; refreshed: number };
  contracts: { created: number; updated: number };
  /** Accounts per stage 0-3 as the platform computed them. */
  stages: [number, number, number, number];
  asOf: IsoDate;
}

export interface ApiSetupOptions {
  seed: number;
  /** Epoch ms of "today" for the contracts' payment histories (default now). */
  now?: number;
  /** Called after every request: what has been done of how much, and which step. */
  onProgress?: (done: number, total: number, step: 'devices' | 'contracts') => void;
  /** Per request (default 30 s). */
  timeoutMs?: number;
}

/** Devices per POST /api/devices: well under the api's limit (1000) and its 1 MiB body limit. */
const DEVICE_BATCH = 500;
/** Contracts in flight at once: enough to hide round trips, few enough to leave the api serving others. */
const CONTRACTS_IN_FLIGHT = 4;

export async function setUpPlatform(
  login: ApiLogin,
  machines: readonly SimMachine[],
  options: ApiSetupOptions,
): Promise<ApiSetupResult> {
  const api = await signIn(login, options.timeoutMs ?? 30_000);
  const total = machines.length * 2;
  let done = 0;
  const progress = (step: 'devices' | 'contracts', n: number) => {
    done += n;
    options.onProgress?.(done, total, step);
  };

  const devices = { created: 0, refreshed: 0 };
  for (let i = 0; i < machines.length; i += DEVICE_BATCH) {
    const batch = machines.slice(i, i + DEVICE_BATCH).map(deviceProvision);
    const result = await api.post<{ created: string[]; refreshed: string[] }>(
      '/api/devices',
      { devices: batch },
      `provisioning ${batch[0]!.deviceId}…${batch.at(-1)!.deviceId}`,
    );
    devices.created += result.created.length;
    devices.refreshed += result.refreshed.length;
    progress('devices', batch.length);
  }

  const { asOf, contracts } = fleetContracts(machines, {
    seed: options.seed,
    now: options.now ?? Date.now(),
  });
  const result: ApiSetupResult = {
    devices,
    contracts: { created: 0, updated: 0 },
    stages: [0, 0, 0, 0],
    asOf,
  };
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < contracts.length) {
      const c = contracts[next++]!;
      const saved = await api
        .post<{ created: boolean; contract: { overdue: { stage: 0 | 1 | 2 | 3 } } }>(
          '/api/contracts',
          contractBody(c),
          `contract ${c.number}`,
        )
        .catch((e: unknown) => {
          failed = true; // the other workers stop after their request in flight
          throw e;
        });
      result.contracts[saved.created ? 'created' : 'updated']++;
      result.stages[saved.contract.overdue.stage]++;
      progress('contracts', 1);
    }
  };
  await Promise.all(Array.from({ length: CONTRACTS_IN_FLIGHT }, worker));
  return result;
}

/** A demo contract as the body of POST /api/contracts (docs/contracts.md); money stays in fen. */
export function contractBody(c: DemoContract) {
  return {
    number: c.number,
    kind: c.kind,
    currency: c.currency,
    principal: c.principal,
    downPayment: c.downPayment,
    startDate: c.startDate,
    termMonths: c.termMonths,
    annualRateBp: c.annualRateBp,
    penaltyRateBp: c.penaltyRateBp,
    graceDays: c.graceDays,
    timezone: c.timeZone,
    firstDueDate: c.firstDueDate,
    customer: {
      id: c.customer.id,
      name: c.customer.name,
      phone: c.customer.phone,
      nationalId: c.customer.nationalId,
      homeAddress: c.customer.homeAddress,
    },
    guarantors: [c.guarantor],
    dealer: { id: c.dealer.id, name: c.dealer.name, province: c.dealer.province },
    machineId: c.machineId,
    instalments: c.instalments.map((i) => ({
      seq: i.seq,
      dueDate: i.dueDate,
      principal: i.principal,
      interest: i.interest,
      fees: i.fees,
    })),
    payments: c.payments.map((p) => ({ date: p.date, amount: p.amount, reference: p.reference })),
  };
}

interface SignedInApi {
  post<T>(path: string, body: unknown, what: string): Promise<T>;
}

async function signIn(login: ApiLogin, timeoutMs: number): Promise<SignedInApi> {
  const base = login.url.replace(/\/+$/, '');
  const request = async (path: string, body: unknown, token?: string) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new ApiSetupError(`cannot reach the api at ${login.url}: ${networkReason(e, timeoutMs)}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Not our api (a proxy's error page, another service on the port): said below with the status.
    }
    return { status: res.status, json, text };
  };

  const signedIn = await request('/api/auth/login', { username: login.user, password: login.password });
  if (signedIn.status === 401)
    throw new ApiSetupError(
      `the api at ${login.url} refused the login of "${login.user}": ${messageOf(signedIn)}`,
    );
  const session = signedIn.json as { token?: string; user?: { roles?: string[] } } | null;
  if (signedIn.status !== 200 || typeof session?.token !== 'string')
    throw new ApiSetupError(
      `the api at ${login.url} answered the login with ${signedIn.status}: ${messageOf(signedIn)} — is it the platform's address?`,
    );
  const roles = session.user?.roles ?? [];
  if (!roles.includes('admin'))
    throw new ApiSetupError(
      `"${login.user}" is not an admin (roles: ${roles.join(', ') || 'none'}): provisioning devices needs the admin role`,
    );
  const token = session.token;
  return {
    async post<T>(path: string, body: unknown, what: string): Promise<T> {
      const res = await request(path, body, token);
      if (res.status !== 200)
        throw new ApiSetupError(`${what}: the api answered ${res.status}: ${messageOf(res)}`);
      return res.json as T;
    },
  };
}

function messageOf(res: { json: unknown; text: string }): string {
  const message = (res.json as { message?: unknown } | null)?.message;
  const text = typeof message === 'string' ? message : res.text || 'no message';
  return text.replace(/\s+/g, ' ').slice(0, 300);
}

/** undici's "fetch failed" hides the reason in `cause`: ECONNREFUSED, ENOTFOUND, a timeout. */
function networkReason(e: unknown, timeoutMs: number): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  return err.cause?.code ?? err.cause?.message ?? err.message;
}
