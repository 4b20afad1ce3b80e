/**
 * One run of the campaign: a machine on a loan three instalments behind, and a sequence of steps
 * fast-check generated (people, money, records, the machine, the box, the network, restarts, time).
 * After every step the run judges the platform from its own model (model.ts), never from the
 * platform's answers: an engagement of a moving or unread machine, an engagement by a command that
 * was not justified when it went out, a cured machine not freed within 5 minutes of being reachable,
 * a command not ended within its validity + 5 minutes, a transition or money movement missing from
 * the audit chain.
 */
import { loadAccountInputs } from '../../api/contracts/store.ts';
import { localDate } from '../../shared/calendar-date.ts';
import { ACKED_IMMOBILIZE_GRACE_MS, resendDelayMs, TERMINAL_STATES } from '../../shared/commands.ts';
import type { CommandType } from '../../shared/policy.ts';
import { type Mode, WorldModel } from './model.ts';
import type { Fault } from './network.ts';
import { type Epoch, PEOPLE, PROFILE, Rig } from './rig.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** How late a deadline may be seen: the run looks at the world in ticks. */
const TOLERANCE = MINUTE;
/** A cured machine is freed within this long of being reachable. */
const RELEASE_WITHIN = 5 * MINUTE;

export type Action =
  | { a: 'advance'; ms: number }
  | { a: 'pay'; by: 'c1' | 'r1' | 'admin'; how: 'manual' | 'import'; part: 'one' | 'all' }
  | { a: 'confirm'; by: 'r1' | 'r2' | 'c1' }
  | { a: 'reverse'; by: 'r1' | 'admin' }
  | { a: 'warn'; by: 'c1' | 'r1'; channel: 'sms' | 'letter' | 'phone' | 'visit'; claimedDaysAgo: number }
  /** The GPS-stop warning by SMS and by letter, both claiming the same time. */
  | { a: 'warnTwice'; by: 'c1' | 'r1'; claimedDaysAgo: number }
  | { a: 'promise'; by: 'c1' }
  | { a: 'dispute'; by: 'c1'; claimedDaysAgo: number }
  | { a: 'resolve'; by: 'c1' | 'r1' }
  | { a: 'override'; by: 'r1' | 'r2' }
  | { a: 'request'; by: 'r1' | 'r2'; type: CommandType }
  /** One risk manager requests an immobilize and the other approves it at once. */
  | { a: 'gpsStop'; by: 'r1' | 'r2' }
  | { a: 'approve'; by: 'r1' | 'r2' | 'c1'; which: number }
  | { a: 'reject'; by: 'r1' | 'r2'; which: number }
  | { a: 'cancel'; by: 'r1' | 'r2'; which: number }
  | { a: 'machine'; mode: Mode }
  | { a: 'sensors'; known: boolean }
  | { a: 'reboot' }
  | { a: 'skew'; ms: number }
  | { a: 'fault'; fault: Fault }
  | { a: 'online'; online: boolean }
  | { a: 'restart'; what: 'broker' | 'api' }
  | { a: 'device'; enabled: boolean };

const WORLD_ONLY: ReadonlySet<Action['a']> = new Set(['machine', 'sensors', 'reboot', 'skew', 'fault']);

export interface Tally {
  steps: number;
  engagements: number;
  unsafeEngagements: number;
  unjustifiedEngagements: number;
  lateReleases: number;
  stuckCommands: number;
  releaseMinutes: number[];
}

export const emptyTally = (): Tally => ({
  steps: 0,
  engagements: 0,
  unsafeEngagements: 0,
  unjustifiedEngagements: 0,
  lateReleases: 0,
  stuckCommands: 0,
  releaseMinutes: [],
});

export class Run {
  readonly violations: string[] = [];
  private seenEngagements = 0;
  private stuck = new Set<string>();
  /** Since when the box has been reachable without loss (null: it is not). */
  private reachableSince: number | null;
  private releaseFrom: number | null = null;
  private heldBefore = false;
  private curesBefore = 0;
  private lateCounted = false;
  private references = 0;
  /** Ids of the run's commands in creation order (steps pick one by index). */
  private commandIds: string[] = [];
  /** When something last happened that the platform answers within minutes: ticks are fine then. */
  private busySince: number;

  private constructor(
    readonly rig: Rig,
    readonly model: WorldModel,
    readonly tally: Tally,
  ) {
    this.reachableSince = rig.now;
    this.busySince = rig.now;
    rig.truth = (engaged) => ({ real: model.machine(engaged), read: model.reading(engaged) });
  }

  /**
   * `warned`: the account's history already holds GPS-stop warnings by SMS and letter, recorded
   * four days ago (written as history, as a data migration would).
   */
  static async open(epoch: Epoch, tag: string, tally: Tally, { warned = false } = {}): Promise<Run> {
    const rig = await Rig.open(epoch, tag);
    const loaded = await loadAccountInputs(epoch.db, rig.contractId);
    if (!loaded) throw new Error('contract not found');
    const roles: Record<string, string> = {};
    for (const [who, role] of Object.entries(PEOPLE)) roles[epoch.username(who)] = role;
    const model = new WorldModel(
      {
        instalments: loaded.inputs.instalments,
        graceDays: loaded.inputs.graceDays,
        penaltyRateBp: loaded.inputs.penaltyRateBp,
        timeZone: loaded.contract.timezone,
      },
      PROFILE,
      roles,
      rig.now,
    );
    if (model.stageAt(rig.now) < PROFILE.minStage) throw new Error('the run must start at stage 3');
    if (warned) {
      const at = rig.now - 4 * DAY;
      for (const channel of ['sms', 'letter']) {
        await epoch.db.query(
          `insert into activity (contract_id, kind, actor, occurred_at, recorded_at, channel, body)
           values ($1, 'gps_stop_warning', 'collector', $2, $2, $3, 'GPS stop will follow if the arrears are not paid')`,
          [rig.contractId, new Date(at).toISOString(), channel],
        );
        model.warnings.push({ recordedAt: at, channel });
      }
    }
    const run = new Run(rig, model, tally);
    await rig.startApi();
    rig.report();
    await rig.settle();
    return run;
  }

  private get now(): number {
    return this.rig.now;
  }

  private name(who: string): string {
    return this.rig.epoch.username(who);
  }

  /** Carries out one step, lets the loop answer, and judges. */
  async step(x: Action): Promise<void> {
    this.tally.steps++;
    if (x.a === 'advance') {
      await this.advance(x.ms);
      return;
    }
    // A person's act takes a moment: no two steps share an instant, so the model can tell which came
    // first (a command published, then the money that cured the account).
    this.rig.epoch.clock.now += 1_000;
    await this.act(x);
    this.busySince = this.now;
    this.noteReachability();
    // What only changes the world (the machine, the box, the link) the platform meets at the next tick.
    if (!WORLD_ONLY.has(x.a)) await this.rig.settle();
    this.model.noteStage(this.now);
    await this.judge();
  }

  private async act(x: Exclude<Action, { a: 'advance' }>): Promise<void> {
    const { rig, model } = this;
    const contract = `/api/contracts/${rig.contractId}`;
    switch (x.a) {
      case 'pay': {
        const view = await rig.call('admin', 'GET', contract);
        const overdue = (view.body.instalments as { status: string; unpaid: number }[]).filter(
          (i) => i.status === 'overdue' || i.status === 'due',
        );
        const amount =
          x.part === 'one' ? (overdue[0]?.unpaid ?? 0) : overdue.reduce((sum, i) => sum + i.unpaid, 0);
        if (amount <= 0) return;
        const reference = `${rig.deviceId}-P${++this.references}`;
        const date = localDate(this.now, model.terms.timeZone);
        const bookedAt = this.now;
        if (x.how === 'manual') {
          const r = await rig.call(x.by, 'POST', `${contract}/payments`, { date, amount, reference });
          if (r.status !== 200) return;
          const held = Boolean(r.body.awaitingConfirmation);
          // Four eyes: with the machine armed or stopped, money booked by hand that would free it
          // waits for a second person.
          const wouldCure =
            model.stageAt(bookedAt) >= PROFILE.minStage &&
            model.stageAt(bookedAt, [{ date, amount, reference }]) < PROFILE.minStage;
          if (!held && wouldCure && (rig.armed || rig.engaged))
            this.violations.push(
              `a payment by hand freed an armed or stopped machine without a second person`,
            );
          model.payments.push({
            reference,
            date,
            amount,
            bookedAt,
            held,
            confirmedAt: null,
            reversedAt: null,
          });
        } else {
          const number = view.body.number as string;
          const csv = `contract_number,date,amount,reference\n${number},${date},${(amount / 100).toFixed(2)},${reference}\n`;
          const r = await rig.call(x.by === 'c1' ? 'r1' : x.by, 'POST', '/api/payments/import', csv);
          if (r.status !== 200 || r.body.imported === 0) return;
          model.payments.push({
            reference,
            date,
            amount,
            bookedAt,
            held: false,
            confirmedAt: null,
            reversedAt: null,
          });
        }
        return;
      }
      case 'confirm': {
        const p = model.payments
          .filter((q) => q.held && q.confirmedAt === null && q.reversedAt === null)
          .at(-1);
        if (!p) return;
        const r = await rig.call(x.by, 'POST', `${contract}/payments/${p.reference}/confirm`, {
          note: 'seen',
        });
        if (r.status === 200) p.confirmedAt = this.now;
        return;
      }
      case 'reverse': {
        const p = model.payments.filter((q) => q.reversedAt === null).at(-1);
        if (!p) return;
        const r = await rig.call(x.by, 'POST', `${contract}/payments/${p.reference}/reverse`, {
          reason: 'bounced by the bank',
        });
        if (r.status === 200) p.reversedAt = this.now;
        return;
      }
      case 'warn': {
        const r = await rig.call(x.by, 'POST', `${contract}/activities`, {
          kind: 'gps_stop_warning',
          channel: x.channel,
          occurredAt: new Date(this.now - x.claimedDaysAgo * DAY).toISOString(),
          body: 'GPS stop will follow if the arrears are not paid',
        });
        if (r.status === 201) model.warnings.push({ recordedAt: this.now, channel: x.channel });
        return;
      }
      case 'warnTwice':
        await this.act({ a: 'warn', by: x.by, channel: 'sms', claimedDaysAgo: x.claimedDaysAgo });
        await this.act({ a: 'warn', by: x.by, channel: 'letter', claimedDaysAgo: x.claimedDaysAgo });
        return;
      case 'promise': {
        await rig.call(x.by, 'POST', `${contract}/activities`, {
          kind: 'promise_to_pay',
          channel: 'phone',
          promisedDate: localDate(this.now + 7 * DAY, model.terms.timeZone),
          promisedAmount: 100_00,
        });
        return;
      }
      case 'dispute': {
        const r = await rig.call(x.by, 'POST', `${contract}/activities`, {
          kind: 'dispute_raised',
          channel: 'phone',
          occurredAt: new Date(this.now - x.claimedDaysAgo * DAY).toISOString(),
          disputeCategory: 'amount',
          body: 'the customer disputes the amount',
        });
        if (r.status === 201) model.disputes.push({ id: r.body.id, recordedAt: this.now, resolvedAt: null });
        return;
      }
      case 'resolve': {
        const d = model.disputes.find((q) => q.resolvedAt === null);
        if (!d) return;
        const r = await rig.call(x.by, 'POST', `${contract}/activities`, {
          kind: 'dispute_resolved',
          channel: 'phone',
          resolvesId: d.id,
          body: 'resolved',
        });
        if (r.status === 201) d.resolvedAt = this.now;
        return;
      }
      case 'override': {
        const r = await rig.call(x.by, 'POST', `${contract}/dispute-override`, {
          reason: 'the dispute was reviewed and does not concern the arrears',
        });
        if (r.status < 300) model.overrides.push(this.now);
        return;
      }
      case 'request': {
        const r = await rig.call(x.by, 'POST', '/api/commands', {
          contractId: rig.contractId,
          type: x.type,
          reason: 'campaign',
        });
        if (r.status === 201) this.commandIds.push(r.body.id);
        return;
      }
      case 'gpsStop': {
        const other = x.by === 'r1' ? 'r2' : 'r1';
        await this.act({ a: 'request', by: x.by, type: 'immobilize' });
        const id = this.commandIds.at(-1);
        const ids = id ? await this.allCommandIds() : [];
        if (id) await this.act({ a: 'approve', by: other, which: ids.indexOf(id) });
        return;
      }
      case 'approve':
      case 'reject':
      case 'cancel': {
        const ids = await this.allCommandIds();
        const id = ids[x.which % Math.max(1, ids.length)];
        if (!id) return;
        const body = x.a === 'cancel' ? { reason: 'campaign' } : { note: 'campaign' };
        const before = await rig.call('admin', 'GET', `/api/commands/${id}`);
        const r = await rig.call(x.by, 'POST', `/api/commands/${id}/${x.a}`, body);
        if (x.a === 'approve' && r.status === 200 && r.body.state !== 'REJECTED') {
          const list = model.approvals.get(id) ?? [];
          list.push({ requester: before.body.requestedBy, approver: this.name(x.by) });
          model.approvals.set(id, list);
        }
        return;
      }
      case 'machine':
        model.mode = x.mode;
        return;
      case 'sensors':
        model.sensorsKnown = x.known;
        return;
      case 'reboot':
        rig.box.immobilizer.reboot();
        return;
      case 'skew':
        rig.skewMs = x.ms;
        return;
      case 'fault':
        rig.network.releaseHeld();
        rig.network.fault = x.fault;
        return;
      case 'online':
        if (x.online && !rig.disabled && !rig.network.boxOnline) rig.reconnect();
        else if (!x.online) rig.network.boxOnline = false;
        return;
      case 'restart':
        if (x.what === 'broker') {
          rig.network.restartBroker();
          if (rig.network.boxOnline) rig.reconnect();
        } else {
          await rig.restartApi();
        }
        return;
      case 'device': {
        const r = await rig.call(
          'admin',
          'POST',
          `/api/devices/${rig.deviceId}/${x.enabled ? 'enable' : 'disable'}`,
        );
        if (r.status !== 200) return;
        rig.disabled = !x.enabled;
        // A disabled box is refused by the broker; enabled, it logs in again.
        if (rig.disabled) rig.network.boxOnline = false;
        else if (!rig.network.boxOnline) rig.reconnect();
        return;
      }
    }
  }

  private async allCommandIds(): Promise<string[]> {
    const { rows } = await this.rig.epoch.db.query<{ id: string }>(
      'select id from command where device_id = $1 order by seq',
      [this.rig.deviceId],
    );
    this.commandIds = rows.map((r) => r.id);
    return this.commandIds;
  }

  private noteReachability(): void {
    const reachable = this.rig.network.faithful && !this.rig.disabled;
    if (!reachable) this.reachableSince = null;
    else if (this.reachableSince === null) this.reachableSince = this.now;
  }

  /** Lets time pass in ticks: fine after something happened, then coarse, never over a deadline. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    while (this.now < end) {
      const since = this.now - this.busySince;
      // 5 s, 5 s, 10 s, 20 s … after something happened, as the dispatcher's resends back off.
      let dt = since < 10 * MINUTE ? Math.max(5_000, since) : 6 * HOUR;
      const next = await this.nextDeadline();
      if (next !== null && next - this.now <= dt) {
        dt = Math.max(1_000, next - this.now + 1_000);
        this.busySince = this.now + dt;
      }
      dt = Math.min(dt, end - this.now);
      await this.tick(dt);
    }
  }

  /** The next moment the platform has something to do for this machine. */
  private async nextDeadline(): Promise<number | null> {
    const { rows } = await this.rig.epoch.db.query<{
      state: string;
      type: string;
      expires_at: Date;
      last_sent_at: Date | null;
      attempts: number;
      rearm_at: Date | null;
    }>(
      `select state, type, expires_at, last_sent_at, attempts, rearm_at from command
       where device_id = $1 and (state not in ('EXECUTED', 'FAILED', 'EXPIRED', 'CANCELLED', 'REJECTED') or rearm_at is not null)`,
      [this.rig.deviceId],
    );
    const times: number[] = [];
    for (const r of rows) {
      const expires = new Date(r.expires_at).getTime();
      if (r.rearm_at) times.push(new Date(r.rearm_at).getTime());
      if (TERMINAL_STATES.has(r.state as never)) continue;
      times.push(expires, expires + ACKED_IMMOBILIZE_GRACE_MS);
      if (r.state === 'SENT' && r.last_sent_at && this.rig.network.faithful)
        times.push(new Date(r.last_sent_at).getTime() + resendDelayMs(r.attempts));
    }
    if (this.releaseFrom !== null) times.push(this.releaseFrom + RELEASE_WITHIN);
    const future = times.filter((t) => t > this.now);
    return future.length > 0 ? Math.min(...future) : null;
  }

  private async tick(dt: number): Promise<void> {
    const { rig } = this;
    rig.epoch.clock.now += dt;
    rig.network.releaseHeld();
    rig.report();
    await rig.refreshStages();
    await rig.settle();
    this.noteReachability();
    this.model.noteStage(this.now);
    await this.judge();
  }

  /** The checks after every step and tick. */
  private async judge(): Promise<void> {
    const { rig, model, tally } = this;
    for (const e of rig.engagements.slice(this.seenEngagements)) {
      tally.engagements++;
      if (e.unsafe) {
        tally.unsafeEngagements++;
        this.violations.push(`engaged with the ${e.unsafe} at ${iso(e.at)}`);
      }
      const why = e.commandId
        ? model.unjustified(e.commandId, e.sentAt, await this.carriedFrom(e.commandId))
        : 'engaged without an immobilize';
      if (why) {
        tally.unjustifiedEngagements++;
        this.violations.push(`engaged at ${iso(e.at)} by ${e.commandId} sent ${iso(e.sentAt)}: ${why}`);
      }
    }
    this.seenEngagements = rig.engagements.length;

    const held = rig.armed || rig.engaged;
    const lastCure = model.cures.at(-1) ?? Number.NEGATIVE_INFINITY;
    // Freed in the very step that cured the account (a release sent and taken at once).
    if (
      this.heldBefore &&
      !held &&
      model.cured &&
      model.cures.length > this.curesBefore &&
      this.releaseFrom === null
    )
      tally.releaseMinutes.push(0);
    this.heldBefore = held;
    this.curesBefore = model.cures.length;
    if (model.cured && held && this.reachableSince !== null) {
      this.releaseFrom = Math.max(lastCure, this.reachableSince);
      if (this.now - this.releaseFrom > RELEASE_WITHIN + TOLERANCE && !this.lateCounted) {
        tally.lateReleases++;
        this.lateCounted = true;
        this.violations.push(
          `cured at ${iso(lastCure)}, reachable since ${iso(this.releaseFrom)}, still held at ${iso(this.now)}`,
        );
      }
    } else if (this.releaseFrom !== null && model.cured && !held) {
      tally.releaseMinutes.push((this.now - this.releaseFrom) / MINUTE);
      this.releaseFrom = null;
      this.lateCounted = false;
    } else if (!model.cured || this.reachableSince === null) {
      this.releaseFrom = null;
      this.lateCounted = false;
    }

    const { rows } = await rig.epoch.db.query<{ id: string; state: string; expires_at: Date }>(
      `select id, state, expires_at from command where device_id = $1
       and state not in ('EXECUTED', 'FAILED', 'EXPIRED', 'CANCELLED', 'REJECTED') and expires_at < $2`,
      [rig.deviceId, new Date(this.now - ACKED_IMMOBILIZE_GRACE_MS - TOLERANCE).toISOString()],
    );
    for (const r of rows) {
      if (this.stuck.has(r.id)) continue;
      this.stuck.add(r.id);
      tally.stuckCommands++;
      this.violations.push(
        `command ${r.id} still ${r.state} at ${iso(this.now)}, valid until ${iso(new Date(r.expires_at).getTime())}`,
      );
    }
  }

  private async carriedFrom(id: string): Promise<string | null> {
    const { rows } = await this.rig.epoch.db.query<{ note: string }>(
      `select note from command_approval where command_id = $1 and note like 'carried over from %' limit 1`,
      [id],
    );
    return rows[0]?.note.slice('carried over from '.length) ?? null;
  }

  /**
   * The end of a run: the network heals, the box comes back, and time runs on until every command
   * has ended; then the audit chain must hold every transition and every money movement.
   */
  async finish(): Promise<void> {
    const { rig } = this;
    rig.network.releaseHeld();
    rig.network.fault = 'none';
    this.model.sensorsKnown = true;
    if (rig.disabled) await this.step({ a: 'device', enabled: true });
    if (!rig.network.boxOnline) await this.step({ a: 'online', online: true });
    // Every run ends with a cure by a bank file: the machine must be freed in time.
    await this.step({ a: 'pay', by: 'r1', how: 'import', part: 'all' });
    if (!this.model.cured)
      this.violations.push('the bank file that pays everything overdue did not cure the account');
    for (let day = 0; day < 6 && !(await this.quiet()); day++) await this.advance(DAY);
    if (!(await this.quiet()))
      this.violations.push('the machine is still held or a command still open 6 days after the final cure');
    await this.auditHolds();
    await rig.stopApi();
  }

  /** Takes the run's contract out of the daily work of later runs on the same database. */
  async retire(): Promise<void> {
    await this.rig.epoch.db.query(`update contract set status = 'settled' where id = $1`, [
      this.rig.contractId,
    ]);
  }

  /** Nothing left to do: every command ended, no re-arm pending, the box free. */
  private async quiet(): Promise<boolean> {
    const { rows } = await this.rig.epoch.db.query(
      `select 1 from command where device_id = $1
       and (state not in ('EXECUTED', 'FAILED', 'EXPIRED', 'CANCELLED', 'REJECTED') or rearm_at is not null) limit 1`,
      [this.rig.deviceId],
    );
    return rows.length === 0 && !this.rig.armed && !this.rig.engaged;
  }

  private async auditHolds(): Promise<void> {
    const db = this.rig.epoch.db;
    const { rows: missing } = await db.query<{ command_id: string; to_state: string }>(
      `select t.command_id, t.to_state from command_transition t join command c on c.id = t.command_id
       where c.device_id = $1 and not exists (
         select 1 from audit_log a where a.subject = 'command:' || t.command_id
           and a.action = 'command.' || lower(t.to_state))`,
      [this.rig.deviceId],
    );
    for (const m of missing)
      this.violations.push(`transition of ${m.command_id} to ${m.to_state} not in the audit chain`);
    const { rows: money } = await db.query<{ action: string; actor: string; reference: string }>(
      `select action, actor, detail->>'reference' as reference from audit_log
       where subject = $1 and action like 'payment.%'`,
      [`contract:${this.rig.contractId}`],
    );
    const has = (action: string, reference: string) =>
      money.some((m) => m.action === action && m.reference === reference && m.actor !== '');
    for (const p of this.model.payments) {
      if (!has('payment.booked', p.reference))
        this.violations.push(`payment ${p.reference} booked unaudited`);
      if (p.confirmedAt !== null && !has('payment.confirmed', p.reference))
        this.violations.push(`payment ${p.reference} confirmed unaudited`);
      if (p.reversedAt !== null && !has('payment.reversed', p.reference))
        this.violations.push(`payment ${p.reference} reversed unaudited`);
    }
  }
}

const iso = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString() : String(t));
