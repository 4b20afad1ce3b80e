/**
 * GPS-stop commands during the chaos run: a few boxes running the reference firmware
 * (simulators/firmware.ts) on machines whose loans are at stage 3 with the warnings served, and a
 * desk that, at a steady pace, has one risk manager request a command and a second approve it,
 * through the load balancer's API as the web console does.
 *
 * Each box alternates immobilize and (emergency) release — both need the second approver — and
 * gets its next command only once the previous one reached it, so no command is superseded before
 * it could reach its box. The box notes every command id it receives; `lost()` is the approved
 * commands no box received. A turn whose box still has a command on its way (or that the platform
 * answers 409, an immobilize not yet closed) passes to the next box. A call that fails on its way
 * (the node behind the load balancer died mid-call) is tried again, after asking the platform
 * whether the first attempt took effect, so a command is neither requested twice nor approved
 * without being counted.
 */
import { randomBytes } from 'node:crypto';
import { saveContracts } from '../../api/contracts/store.ts';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database } from '../../db/client.ts';
import { buildSchedule } from '../../shared/schedule.ts';
import { SimDevice } from '../../simulators/device.ts';
import { BoxFirmware } from '../../simulators/firmware.ts';
import { createTestUser, loginAs, type SignedIn } from '../support/auth.ts';

const DAY = 86_400_000;

/** The platform refused a call for a reason the run did not foresee: not tried again. */
class Refused extends Error {}
export const BOX_PREFIX = 'CHC-';

interface Box {
  deviceId: string;
  token: string;
  firmware: BoxFirmware;
  device: SimDevice;
  received: Set<string>;
  /** The command on its way to this box (approved, not yet received), if any. */
  waiting: string | null;
  next: 'immobilize' | 'release';
  retired: boolean;
}

export interface DeskStats {
  approved: number;
  received: number;
  /** Turns passed on: the box's previous command still on its way, or the platform said 409. */
  deferred: number;
  /** Calls that failed on their way (network error, 5xx: the node died) and were tried again. */
  failedCalls: number;
  byType: Record<string, number>;
}

export interface CommandDesk {
  /** Requests and approves one command, on the next box that is ready. */
  turn(): Promise<void>;
  /** Approved commands no box has received (yet). */
  lost(): string[];
  stats(): DeskStats;
  stop(): Promise<void>;
}

/** Machines, stage-3 loans, warnings served four days ago by two channels, and two risk managers. */
export async function setUpDesk(
  db: Database,
  count: number,
): Promise<{
  boxes: { deviceId: string; token: string }[];
  people: { username: string; password: string }[];
}> {
  const boxes = Array.from({ length: count }, (_, i) => ({
    deviceId: `${BOX_PREFIX}${String(i + 1).padStart(4, '0')}`,
    token: randomBytes(16).toString('hex'),
  }));
  await provisionDevices(
    db,
    boxes.map(({ deviceId, token }) => ({
      deviceId,
      token,
      machine: {
        id: `M-${deviceId}`,
        make: 'XCMG',
        model: 'XE215',
        type: 'excavator',
        serial: `P-${deviceId}`,
        year: 2023,
      },
    })),
  );
  // A loan that started long ago and was never paid: stage 3 whatever today is.
  const instalments = buildSchedule({
    principal: 3_600_000,
    downPayment: 0,
    annualRateBp: 0,
    termMonths: 36,
    firstDueDate: '2024-02-01',
  });
  await saveContracts(
    db,
    boxes.map(({ deviceId }) => ({
      id: `C-${deviceId}`,
      number: `N-${deviceId}`,
      machineId: `M-${deviceId}`,
      kind: 'loan',
      currency: 'CNY',
      customer: { id: `CU-${deviceId}`, name: 'chaos', phone: null, nationalId: null, homeAddress: null },
      guarantors: [],
      dealer: null,
      principal: 3_600_000,
      downPayment: 0,
      annualRateBp: 0,
      termMonths: 36,
      startDate: '2024-01-01',
      penaltyRateBp: 0,
      graceDays: 0,
      timeZone: 'Asia/Shanghai',
      instalments,
      payments: [],
    })),
    new Date().toISOString().slice(0, 10),
  );
  const warnedAt = new Date(Date.now() - 4 * DAY).toISOString();
  await db.query(
    `insert into activity (contract_id, kind, actor, occurred_at, recorded_at, channel, body)
     select 'C-' || d, 'gps_stop_warning', 'chaos', $2, $2, ch, 'chaos warning'
     from unnest($1::text[]) as d, unnest(array['sms', 'letter']) as ch`,
    [boxes.map((b) => b.deviceId), warnedAt],
  );
  const people = [];
  for (const name of ['risk1', 'risk2']) {
    const u = await createTestUser(db, 'risk_manager', { username: `chaos-${name}` });
    people.push({ username: u.username, password: u.password });
  }
  return { boxes, people };
}

/** Connects the boxes (they report parked every few seconds) and signs the two risk managers in through `lbUrl`. */
export async function openDesk(
  lbUrl: string,
  mqttUrl: string,
  setup: Awaited<ReturnType<typeof setUpDesk>>,
): Promise<CommandDesk> {
  const [requester, approver] = (await Promise.all(
    setup.people.map((p) => loginAs(lbUrl, p.username, p.password)),
  )) as [SignedIn, SignedIn];
  const boxes: Box[] = setup.boxes.map(({ deviceId, token }) => {
    const firmware = new BoxFirmware(deviceId, token);
    const received = new Set<string>();
    const box: Box = {
      deviceId,
      token,
      firmware,
      received,
      waiting: null,
      next: 'immobilize',
      retired: false,
      device: new SimDevice({
        deviceId,
        token,
        mqttUrl,
        reconnectPeriodMs: 1000,
        onCommand: (command) => {
          received.add(command.id);
          if (box.waiting === command.id) box.waiting = null;
          return firmware.onCommand(command, Date.now());
        },
      }),
    };
    return box;
  });
  for (const b of boxes) b.device.start();
  const deadline = Date.now() + 30_000;
  while (boxes.some((b) => b.device.stats().connects === 0)) {
    if (Date.now() > deadline) throw new Error('command boxes did not connect in 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  // Parked, ignition off: an immobilize engages at once, and the platform hears the box (the policy
  // wants it heard from within the hour).
  const report = () => {
    for (const b of boxes) {
      b.device.publishTelemetry(
        b.firmware.report({ v: 1, ts: Date.now(), lat: 34.2, lon: 117.2, fix: true, ign: false, spd: 0 }),
      );
    }
  };
  report();
  const reporter = setInterval(report, 5000);

  const approved: string[] = [];
  const stats: DeskStats = { approved: 0, received: 0, deferred: 0, failedCalls: 0, byType: {} };
  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${lbUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    // biome-ignore lint/suspicious/noExplicitAny: the fields used are checked where they are read
    const json = (await res.json().catch(() => ({}))) as any;
    return { status: res.status, json };
  };
  /** A call that may fail on its way (its node died): tried again, `inDoubt` first asking whether it took effect. */
  const persist = async <T>(
    attempt: () => Promise<T | 'retry'>,
    inDoubt: () => Promise<T | null>,
  ): Promise<T> => {
    for (let n = 1; ; n++) {
      try {
        if (n > 1) {
          const done = await inDoubt();
          if (done !== null) return done;
        }
        const r = await attempt();
        if (r !== 'retry') return r;
        stats.failedCalls++;
      } catch (e) {
        if (e instanceof Refused || n >= 10) throw e;
        stats.failedCalls++;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const AFTER_APPROVAL = ['APPROVED', 'QUEUED', 'SENT', 'ACKED', 'EXECUTED', 'FAILED'];
  /** Requests and approves `type` for the box; the command id, or null when the platform said 409. */
  const requestAndApprove = async (box: Box): Promise<string | null> => {
    const requested = await persist<string | null>(
      async () => {
        const r = await call(requester.token, 'POST', '/api/commands', {
          deviceId: box.deviceId,
          type: box.next,
          reason: 'chaos run',
        });
        if (r.status === 409) return null;
        if (r.status >= 500) return 'retry';
        if (r.status !== 201 || r.json.state !== 'REQUESTED')
          throw new Refused(
            `request ${box.next} of ${box.deviceId}: ${r.status} ${r.json.state ?? ''} ${r.json.message ?? ''}`,
          );
        return r.json.id as string;
      },
      // A request whose answer was lost may have been recorded: take that one.
      async () => {
        const r = await call(
          requester.token,
          'GET',
          `/api/commands?deviceId=${box.deviceId}&state=REQUESTED`,
        );
        const mine =
          r.status === 200
            ? (r.json as { id: string; type: string }[]).find((c) => c.type === box.next)
            : null;
        return mine ? mine.id : null;
      },
    );
    if (requested === null) return null;
    return persist<string>(
      async () => {
        const r = await call(approver.token, 'POST', `/api/commands/${requested}/approve`, {
          note: 'chaos run',
        });
        if (r.status >= 500) return 'retry';
        // The dispatcher may have moved it on already (queued, sent, even acknowledged).
        if (r.status !== 200 || !AFTER_APPROVAL.includes(r.json.state))
          throw new Refused(
            `approve ${requested}: ${r.status} ${r.json.state ?? ''} ${r.json.message ?? ''}`,
          );
        return requested;
      },
      // An approval whose answer was lost may have been recorded: the command's state says.
      async () => {
        const r = await call(approver.token, 'GET', `/api/commands/${requested}`);
        if (r.status !== 200) return null;
        if (AFTER_APPROVAL.includes(r.json.state)) return requested;
        if (r.json.state !== 'REQUESTED') throw new Refused(`command ${requested} became ${r.json.state}`);
        return null;
      },
    );
  };
  let cursor = 0;

  return {
    async turn() {
      for (let tried = 0; tried < boxes.length; tried++) {
        const box = boxes[cursor++ % boxes.length]!;
        if (box.retired) continue;
        if (box.waiting) {
          stats.deferred++;
          continue;
        }
        try {
          const id = await requestAndApprove(box);
          if (id === null) {
            stats.deferred++;
            continue;
          }
          approved.push(id);
          stats.approved++;
          stats.byType[box.next] = (stats.byType[box.next] ?? 0) + 1;
          if (!box.received.has(id)) box.waiting = id;
          box.next = box.next === 'immobilize' ? 'release' : 'immobilize';
        } catch (e) {
          // Refused for a reason the run did not foresee: said, and the box takes no more commands.
          box.retired = true;
          process.stderr.write(`chaos: command desk: ${(e as Error).message}\n`);
        }
        return;
      }
    },
    lost: () => approved.filter((id) => !boxes.some((b) => b.received.has(id))),
    stats: () => ({
      ...stats,
      received: approved.length - approved.filter((id) => !boxes.some((b) => b.received.has(id))).length,
    }),
    async stop() {
      clearInterval(reporter);
      await Promise.all(boxes.map((b) => b.device.stop().catch(() => {})));
    },
  };
}
