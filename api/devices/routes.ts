/**
 * The device registry over HTTP: provisioning GPS boxes with their machines (what `npm run sim --
 * --api-url` and a lender's onboarding call), reading one, disabling one and enabling it again.
 * Provisioning, disabling and enabling go through the registry, so the broker's credentials follow
 * as they do in process, and each device's entry in the audit chain commits with the change.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH } from '../../shared/credentials.ts';
import { KeyUnwrapError } from '../../shared/key-wrap.ts';
import { ALL_ROLES, type Role } from '../../shared/roles.ts';
import { appendAudit } from '../audit/log.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { rewrapAll, rollDevice } from './keys.ts';
import { getDeviceView } from './queries.ts';
import { disableDevices, enableDevices, InvalidProvisionError, provisionDevices } from './store.ts';

export interface DeviceRoutesOptions {
  db: Database;
}

/** Who may let a box log in to the broker, or stop it from doing so. */
const REGISTRARS: Role[] = ['admin'];
/** Per request: a larger fleet is provisioned in several (each request is one transaction). */
export const MAX_DEVICES_PER_REQUEST = 1000;

const errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  422: ErrorSchema,
};
const text = (max: number) => z.string().trim().min(1).max(max);

const MachineSchema = z.object({
  id: text(64).describe('the machine; contracts name it by this id or by its serial'),
  make: text(100),
  model: text(100),
  type: text(50).describe('excavator, loader, crane, concrete_pump, roller, …'),
  serial: text(64).describe('product identification number (PIN), unique across machines'),
  year: z.number().int().min(1900).max(2200).nullable(),
});

const ProvisionSchema = z.object({
  devices: z
    .array(
      z.object({
        deviceId: z.string().describe('MQTT client id and user name of the box'),
        token: z
          .string()
          .max(MAX_TOKEN_LENGTH)
          .describe(
            `its MQTT password, at least 128 bits of randomness: ${MIN_TOKEN_LENGTH} or more printable characters (openssl rand -hex 16); stored only as one-way hashes`,
          ),
        machine: MachineSchema,
      }),
    )
    .min(1)
    .max(MAX_DEVICES_PER_REQUEST),
});

const DeviceViewSchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  disabledAt: z.string().nullable(),
  machine: MachineSchema.nullable().describe('the machine it is installed on now'),
  installedAt: z.string().nullable(),
  online: z.boolean().nullable().describe('the broker connection as last reported; null = never said'),
  lastFixAt: z.string().nullable().describe('device time of the newest usable fix'),
});

export const deviceRoutes: FastifyPluginAsync<DeviceRoutesOptions> = async (base, options) => {
  const app = zodRoutes(base);
  const { db } = options;

  app.post(
    '/devices',
    {
      config: { access: REGISTRARS },
      schema: {
        tags: ['devices'],
        summary:
          'Provision devices with their machines (idempotent: a known device gets the new token and keeps its history)',
        body: ProvisionSchema,
        response: {
          200: z.object({
            created: z.array(z.string()).describe('devices the registry did not know'),
            refreshed: z.array(z.string()).describe('devices it knew: token and machine data replaced'),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const items = request.body.devices;
      const machineOf = new Map(items.map((i) => [i.deviceId, i.machine]));
      try {
        return await provisionDevices(db, items, {
          withinTransaction: async (tx, result) => {
            for (const [ids, created] of [
              [result.created, true],
              [result.refreshed, false],
            ] as const) {
              for (const id of ids) {
                const machine = machineOf.get(id)!;
                await appendAudit(tx, {
                  actor: request.user.username,
                  action: 'device.provisioned',
                  subject: `device:${id}`,
                  detail: { created, machineId: machine.id, serial: machine.serial },
                });
              }
            }
          },
        });
      } catch (e) {
        if (e instanceof InvalidProvisionError) throw new HttpError(422, e.message);
        throw e;
      }
    },
  );

  app.get(
    '/devices/:id',
    {
      config: { access: ALL_ROLES, scopedBy: 'device' },
      schema: {
        tags: ['devices'],
        summary: 'A device: its machine, whether it is disabled, its last connection state and fix',
        params: IdParamsSchema,
        response: { 200: DeviceViewSchema, ...errors },
      },
    },
    async (request) => {
      const device = await getDeviceView(db, request.params.id);
      if (!device) throw notFound(`device ${request.params.id}`);
      return device;
    },
  );

  // Enable is idempotent like disable, not 409: a retried request (a timeout, a script run twice)
  // ends in the state asked for, and `changed` still tells whether this call made the change.
  const switches = [
    {
      verb: 'disable',
      summary:
        'Disable a device: it can no longer log in to the broker (disabling a disabled device changes nothing)',
      unchanged: 'false when it was disabled already',
      action: 'device.disabled',
      apply: disableDevices,
    },
    {
      verb: 'enable',
      summary:
        'Enable a disabled device again: it may log in to the broker with its token (enabling an enabled device changes nothing)',
      unchanged: 'false when it was not disabled',
      action: 'device.enabled',
      apply: enableDevices,
    },
  ] as const;
  for (const s of switches) {
    app.post(
      `/devices/:id/${s.verb}`,
      {
        config: { access: REGISTRARS, scopedBy: 'device' },
        schema: {
          tags: ['devices'],
          summary: s.summary,
          params: IdParamsSchema,
          // Optional: a bare POST does it too.
          body: z.object({ reason: z.string().trim().max(1000).optional() }).nullish(),
          response: {
            200: z.object({ changed: z.boolean().describe(s.unchanged), device: DeviceViewSchema }),
            ...errors,
          },
        },
      },
      async (request) => {
        const { id } = request.params;
        const reason = request.body?.reason ?? '';
        const changed = await s.apply(db, [id], {
          withinTransaction: async (tx) => {
            await appendAudit(tx, {
              actor: request.user.username,
              action: s.action,
              subject: `device:${id}`,
              detail: reason ? { reason } : {},
            });
          },
        });
        const device = await getDeviceView(db, id);
        if (!device) throw notFound(`device ${id}`);
        return { changed: changed.length > 0, device };
      },
    );
  }
  app.post(
    '/devices/:id/roll-key',
    {
      config: { access: REGISTRARS },
      schema: {
        tags: ['devices'],
        summary: "Roll a device's key: a new token and command key (the box must be given the token)",
        description:
          'The platform makes a new random token and answers it once; it is stored only as hashes. The ' +
          'command key is derived from it, so the box signs and verifies with the new key once the token ' +
          'is written into it (docs/device-protocol.md). From the commit the old token no longer logs ' +
          'in and commands are signed with the new key. Recorded as device.key_rolled.',
        params: IdParamsSchema,
        body: z.object({ reason: z.string().trim().max(1000).optional() }).nullish(),
        response: {
          200: z.object({
            deviceId: z.string(),
            token: z.string().describe('the new token: shown once, give it to the box'),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const rolled = await rollDevice(db, id, request.user.username, request.body?.reason ?? '');
      if (!rolled) throw notFound(`device ${id}`);
      return { deviceId: id, token: rolled.token };
    },
  );

  app.post(
    '/devices/rewrap-keys',
    {
      config: { access: REGISTRARS },
      schema: {
        tags: ['devices'],
        summary: 'Re-wrap every stored device secret under the current key-encryption key',
        description:
          'After KEY_ENCRYPTION_KEY was replaced (the old one in KEY_ENCRYPTION_KEY_PREVIOUS on every ' +
          'api node): wraps what is still under the old key under the new one, in one transaction. ' +
          'Recorded as keys.rewrapped. The same as npm run keys -- rewrap.',
        body: z.object({}).nullish(),
        response: {
          200: z.object({
            rewrapped: z.number().int().describe('secrets moved from a previous key to the current one'),
            wrappedPlain: z.number().int().describe('command keys an older version had stored in plain text'),
            fingerprint: z.string().describe('the current key-encryption key, by its fingerprint'),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      try {
        return await rewrapAll(db, request.user.username);
      } catch (e) {
        // A key under a KEK this node was not given: nothing changed; configure it as the previous one.
        if (e instanceof KeyUnwrapError) throw new HttpError(409, `cannot re-wrap: ${e.message}`);
        throw e;
      }
    },
  );
};
