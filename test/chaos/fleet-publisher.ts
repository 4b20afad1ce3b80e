/**
 * The chaos run's telemetry fleet, run as a child process (fork) so its thousands of connections
 * do not share an event loop with the run's clock, live socket and fault injection. One mqtt.js
 * connection per device, a fixed total rate: report k goes to device k mod N with sequence number
 * k div N, so every device reports at the same steady pace and its sequence numbers have no holes.
 *
 * Like a box's store-and-forward, a report due while its device is cut off (the broker restarting)
 * waits in mqtt.js's outgoing store and goes out, unchanged, when the connection is back; a report
 * sent but not acknowledged when the connection dropped is sent again, unchanged (the database's
 * unique key absorbs it if the first copy got through). A report counts as published only when
 * the broker's PUBACK arrived; the parent gets, per device, the set of acknowledged sequence
 * numbers, so loss and duplicates can be counted exactly from the database afterwards.
 *
 * IPC with the parent: plan → ready → go → progress… → done.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { benchReport } from '../bench/publisher.ts';

export interface FleetPlan {
  mqttUrl: string;
  devices: { deviceId: string; token: string }[];
  /** Reports per second, all devices together. */
  rate: number;
  durationS: number;
  /** After the last report is due, how long outstanding acknowledgements are waited for. */
  settleS: number;
}

export interface FleetResult {
  /** Reports handed to mqtt.js. */
  sent: number;
  /** Reports the broker acknowledged (PUBACK). */
  published: number;
  /** Sent, never acknowledged by the end of the settle time. */
  unacknowledged: number;
  firstDueAt: number;
  lastDueAt: number;
  /** Connections lost and made again during the run, all devices together. */
  reconnects: number;
  /** Per device (plan order): the acknowledged sequence numbers as a bitmap, base64. */
  acked: string[];
}

export interface FleetProgress {
  sent: number;
  published: number;
  connected: number;
}

interface Device {
  client: MqttClient;
  index: number;
  topic: string;
  acked: Uint8Array;
}

export async function connectFleet(
  plan: FleetPlan,
): Promise<{ run(onProgress: (p: FleetProgress) => void): Promise<FleetResult>; close(): Promise<void> }> {
  const n = plan.devices.length;
  const perDevice = Math.ceil((plan.rate * plan.durationS) / n) + 1;
  const devices: Device[] = [];
  let reconnects = 0;
  let next = 0;
  const connectSome = async () => {
    while (next < n) {
      const index = next++;
      const { deviceId, token } = plan.devices[index]!;
      const client = await mqtt.connectAsync(plan.mqttUrl, {
        clientId: deviceId,
        username: deviceId,
        password: token,
        clean: true,
        protocolVersion: 4,
        keepalive: 30,
        connectTimeout: 10_000,
        // As docs/device-protocol.md asks of boxes: a random 1-5 s before reconnecting, so a fleet
        // does not come back in one second after a broker restart.
        reconnectPeriod: 1000 + Math.floor(Math.random() * 4000),
      });
      client.on('error', () => {});
      client.on('reconnect', () => reconnects++);
      devices.push({
        client,
        index,
        topic: `devices/${deviceId}/telemetry`,
        acked: new Uint8Array(Math.ceil(perDevice / 8)),
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(50, n) }, connectSome));
  devices.sort((a, b) => a.index - b.index);

  return {
    async close() {
      await Promise.all(devices.map((d) => d.client.endAsync(true)));
    },
    run(onProgress) {
      const total = Math.floor(plan.rate * plan.durationS);
      const firstDueAt = Date.now();
      let sent = 0;
      let published = 0;
      let lastDueAt = firstDueAt;
      return new Promise<FleetResult>((resolve) => {
        const progress = setInterval(
          () => onProgress({ sent, published, connected: devices.filter((d) => d.client.connected).length }),
          1000,
        );
        const finish = () => {
          clearInterval(progress);
          resolve({
            sent,
            published,
            unacknowledged: sent - published,
            firstDueAt,
            lastDueAt,
            reconnects,
            acked: devices.map((d) => Buffer.from(d.acked).toString('base64')),
          });
        };
        const tick = setInterval(() => {
          const due = Math.min(total, Math.floor(((Date.now() - firstDueAt) * plan.rate) / 1000));
          for (; sent < due; sent++) {
            const k = sent;
            const device = devices[k % n]!;
            const seq = Math.floor(k / n);
            lastDueAt = Date.now();
            device.client.publish(
              device.topic,
              benchReport(device.index, seq, lastDueAt),
              { qos: 1 },
              (err) => {
                if (err) return;
                const byte = seq >> 3;
                const bit = 1 << (seq & 7);
                if (device.acked[byte]! & bit) return;
                device.acked[byte]! |= bit;
                published++;
              },
            );
          }
          if (sent >= total) {
            clearInterval(tick);
            const until = Date.now() + plan.settleS * 1000;
            const settle = setInterval(() => {
              if (published >= sent || Date.now() > until) {
                clearInterval(settle);
                finish();
              }
            }, 50);
          }
        }, 10);
      });
    },
  };
}

// --- child-process entry -------------------------------------------------------------------------

type FromParent = { type: 'plan'; plan: FleetPlan } | { type: 'go' } | { type: 'exit' };

if (process.send && process.argv.includes('--chaos-fleet')) {
  let fleet: Awaited<ReturnType<typeof connectFleet>> | null = null;
  const send = (m: unknown) => process.send!(m);
  // The parent gone (killed), nothing is left to report to.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: FromParent) => {
    if (m.type === 'plan') {
      const started = Date.now();
      connectFleet(m.plan).then(
        (f) => {
          fleet = f;
          send({ type: 'ready', connectSeconds: (Date.now() - started) / 1000 });
        },
        (e: Error) => send({ type: 'error', message: e.message }),
      );
    } else if (m.type === 'go') {
      fleet!
        .run((p) => send({ type: 'progress', progress: p }))
        .then(async (result) => {
          await fleet!.close();
          send({ type: 'done', result });
        })
        .catch((e: Error) => send({ type: 'error', message: e.message }));
    } else if (m.type === 'exit') {
      process.exit(0);
    }
  });
}
