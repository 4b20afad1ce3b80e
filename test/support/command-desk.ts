/**
 * What the remote-disable tests share: people signed in by role, a JSON caller of the api as one of
 * them, and simulated boxes on stage-3 machines whose GPS-stop warning went out days ago by two
 * channels — each box with the fleet's firmware model, and forgotten on the broker afterwards (a
 * real broker would otherwise keep its persistent session and retained status for later runs).
 */
import { expect } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Role } from '../../shared/roles.ts';
import { SimDevice } from '../../simulators/device.ts';
import { BoxFirmware } from '../../simulators/firmware.ts';
import { authHeader, signedInAs } from './auth.ts';
import { forgetDevices } from './broker-sessions.ts';
import type { TestPlatform } from './platform.ts';
import { waitFor } from './wait.ts';

const DAY = 86_400_000;

export interface DeskBox {
  deviceId: string;
  token: string;
  contractId: string;
  firmware: BoxFirmware;
  /** The box's first connection, not started. */
  device: SimDevice;
  /** Another connection of the same box (after it went away), not started. */
  reconnect(): SimDevice;
  /** Ids of the commands the box has answered, in order (repeats included). */
  answered: string[];
  /**
   * Reports the machine at a site, through the firmware (so the interrupt sees it), on the box's
   * newest connection, and waits until the platform has stored it.
   */
  report(machine: { ign: boolean; spd: number }): Promise<void>;
}

export interface CommandDesk {
  /** Calls the api as a person signed in by `signIn`. */
  api(
    who: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{
    status: number;
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
    body: any;
  }>;
  token(who: string): string;
  /**
   * Box `n` on a machine whose loan is three instalments behind; `warned` (default) puts GPS-stop
   * warnings by SMS and letter (or the channels given) into its history, recorded four days ago, as
   * the default policy profile wants (72 h, 2 channels). They are history a data factory writes,
   * not records a person makes now: through the api a warning is stamped with the server's clock and
   * counts 72 h later. Needs an `admin` signed in.
   */
  stage3Box(
    n: number,
    options?: {
      warned?: boolean | string[];
      startDate?: string;
      termMonths?: number;
      /** How far the box's own clock is off the platform's (negative: behind). */
      clockSkewMs?: number;
    },
  ): Promise<DeskBox>;
  /** `risk1` requests an immobilize of the box's machine and `risk2` approves it; returns its id. */
  immobilize(box: DeskBox): Promise<string>;
  /** As `immobilize`, with the machine parked, until the platform sees it EXECUTED. */
  immobilized(box: DeskBox): Promise<string>;
  /** What is overdue on the box's loan now, in fen. */
  overdueAmount(box: DeskBox): Promise<number>;
  /** Stops every box connection and forgets the boxes on the broker. */
  close(): Promise<void>;
}

/** What the desk needs of a running platform: a test platform or the browser tests' one. */
export type DeskPlatform = Pick<TestPlatform, 'url' | 'db' | 'mqttUrl'>;

export async function openCommandDesk(
  platform: DeskPlatform,
  people: Record<string, Role>,
  tag: string,
  /** The boxes' clock; the platform's when a test drives it. */
  { now = Date.now }: { now?: () => number } = {},
): Promise<CommandDesk> {
  const tokens = new Map<string, string>();
  for (const [name, role] of Object.entries(people)) {
    tokens.set(name, (await signedInAs(platform.url, platform.db, role)).token);
  }
  const connections: SimDevice[] = [];
  const logins = new Map<string, string>();

  const api: CommandDesk['api'] = async (who, method, path, body) => {
    const res = await fetch(`${platform.url}${path}`, {
      method,
      headers: {
        ...authHeader(tokens.get(who) ?? ''),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };

  const immobilize = async (box: DeskBox): Promise<string> => {
    const imm = await api('risk1', 'POST', '/api/commands', {
      contractId: box.contractId,
      type: 'immobilize',
      reason: 'stage 3',
    });
    expect(imm.status, JSON.stringify(imm.body)).toBe(201);
    const approved = await api('risk2', 'POST', `/api/commands/${imm.body.id}/approve`, { note: 'ok' });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    return imm.body.id as string;
  };

  return {
    api,
    token: (who) => tokens.get(who) ?? '',
    async stage3Box(n, { warned = true, startDate = '2024-01-01', termMonths = 36, clockSkewMs = 0 } = {}) {
      const deviceId = `${tag}-${n}`;
      const token = `tok-${tag}-${n}`.padEnd(32, 'x');
      const machineId = `M${tag}-${n}`;
      await provisionDevices(platform.db, [
        {
          deviceId,
          token,
          machine: {
            id: machineId,
            make: 'Sany',
            model: 'SY215C',
            type: 'excavator',
            serial: `P${tag}-${n}`,
            year: 2023,
          },
        },
      ]);
      logins.set(deviceId, token);
      const contract = await api('admin', 'POST', '/api/contracts', {
        number: `GPS-${tag}-${n}`,
        kind: 'loan',
        principal: 3_600_000,
        startDate,
        termMonths,
        customer: { name: '测试客户' },
        machineId,
      });
      expect(contract.status, JSON.stringify(contract.body)).toBe(200);
      expect(contract.body.contract.overdue.stage).toBe(3);
      const contractId = contract.body.id as string;
      const channels = warned === true ? ['sms', 'letter'] : warned === false ? [] : warned;
      for (const channel of channels) {
        const fourDaysAgo = new Date(now() - 4 * DAY).toISOString();
        await platform.db.query(
          `insert into activity (contract_id, kind, actor, occurred_at, recorded_at, channel, body)
           values ($1, 'gps_stop_warning', 'collector', $2, $2, $3, 'GPS stop will follow if the arrears are not paid')`,
          [contractId, fourDaysAgo, channel],
        );
      }
      const firmware = new BoxFirmware(deviceId, token);
      const answered: string[] = [];
      const mine: SimDevice[] = [];
      const report = async (machine: { ign: boolean; spd: number }) => {
        const ts = now();
        mine
          .at(-1)
          ?.publishTelemetry(firmware.report({ v: 1, ts, lat: 30.5, lon: 114.3, fix: true, ...machine }));
        await waitFor(
          async () =>
            (
              await platform.db.query('select 1 from latest_position where device_id = $1 and ts >= $2', [
                deviceId,
                new Date(ts).toISOString(),
              ])
            ).rows.length > 0,
          { what: `a report of ${deviceId} stored` },
        );
      };
      const connection = () => {
        const device = new SimDevice({
          deviceId,
          token,
          mqttUrl: platform.mqttUrl,
          reconnectPeriodMs: 300,
          onCommand: (command) => {
            const ack = firmware.onCommand(command, now() + clockSkewMs);
            answered.push(command.id);
            return ack;
          },
        });
        connections.push(device);
        mine.push(device);
        return device;
      };
      const device = connection();
      return { deviceId, token, contractId, firmware, device, reconnect: connection, answered, report };
    },
    immobilize,
    async immobilized(box) {
      await box.report({ ign: false, spd: 0 });
      const id = await immobilize(box);
      await waitFor(
        async () => {
          await box.report({ ign: false, spd: 0 });
          return (await api('risk1', 'GET', `/api/commands/${id}`)).body.state === 'EXECUTED';
        },
        { what: 'EXECUTED', everyMs: 200 },
      );
      return id;
    },
    async overdueAmount(box) {
      const c = (await api('admin', 'GET', `/api/contracts/${box.contractId}`)).body;
      return (c.instalments as { status: string; unpaid: number }[])
        .filter((i) => i.status === 'overdue')
        .reduce((sum, i) => sum + i.unpaid, 0);
    },
    async close() {
      for (const d of connections) await d.stop().catch(() => {});
      const boxes = [...logins].map(([deviceId, token]) => ({ deviceId, token }));
      await forgetDevices(platform.mqttUrl, boxes).catch(() => {});
    },
  };
}
