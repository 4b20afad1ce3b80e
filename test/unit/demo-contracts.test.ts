import { describe, expect, it } from 'vitest';
import { assessOverdue } from '../../shared/overdue.ts';
import {
  type DemoContract,
  type DemoMachine,
  generateDemoContracts,
  intendedStage,
} from '../../simulators/demo-contracts.ts';
import { CITIES } from '../../simulators/places.ts';

const AS_OF = '2025-06-15';

/** A fleet shaped like the simulator's: SIM-000001 first, pinyin province and city names. */
function fleet(size: number): DemoMachine[] {
  return Array.from({ length: size }, (_, i) => {
    const city = CITIES[(i * 7) % CITIES.length]!;
    const n = String(i + 1).padStart(6, '0');
    return { machineId: `MCH-${n}`, deviceId: `SIM-${n}`, province: city.province, city: city.name };
  });
}

const assess = (c: DemoContract, asOf = AS_OF) =>
  assessOverdue({
    instalments: c.instalments,
    payments: c.payments,
    graceDays: c.graceDays,
    penaltyRateBp: c.penaltyRateBp,
    asOf,
  });

describe('generateDemoContracts', () => {
  const contracts = generateDemoContracts(fleet(200), { seed: 42, asOf: AS_OF });
  const stages = contracts.map((c) => assess(c).stage);
  const share = (stage: number) => stages.filter((s) => s === stage).length / stages.length;

  it('is deterministic for a seed and differs between seeds', () => {
    expect(generateDemoContracts(fleet(200), { seed: 42, asOf: AS_OF })).toEqual(contracts);
    const other = generateDemoContracts(fleet(200), { seed: 43, asOf: AS_OF });
    expect(other.map((c) => c.principal)).not.toEqual(contracts.map((c) => c.principal));
  });

  it('keeps a machine’s contract terms when the fleet grows', () => {
    const small = generateDemoContracts(fleet(20), { seed: 42, asOf: AS_OF });
    for (const [i, c] of small.entries()) {
      expect([c.principal, c.customer.name, c.instalments]).toEqual([
        contracts[i]!.principal,
        contracts[i]!.customer.name,
        contracts[i]!.instalments,
      ]);
    }
  });

  it('spreads stages through the real engine: all four, mostly current, ≥ 5 % at stage 3', () => {
    expect(new Set(stages)).toEqual(new Set([0, 1, 2, 3]));
    expect(share(0)).toBeGreaterThan(0.5);
    expect(share(0)).toBeGreaterThanOrEqual(0.65);
    expect(share(3)).toBeGreaterThanOrEqual(0.05);
  });

  it('every payer profile ends at the stage its story implies', () => {
    for (const [i, c] of contracts.entries()) {
      expect(stages[i], `${c.number} ${c.payerProfile}`).toBe(intendedStage(c.payerProfile));
    }
  });

  it('holds the stage for every seed tried, not just one', () => {
    for (const seed of [1, 7, 2024, -5, 123_456_789]) {
      for (const asOf of ['2025-01-31', '2024-03-01', '2026-12-20']) {
        for (const c of generateDemoContracts(fleet(60), { seed, asOf })) {
          expect(assess(c, asOf).stage, `${seed} ${asOf} ${c.payerProfile}`).toBe(
            intendedStage(c.payerProfile),
          );
        }
      }
    }
  });

  it('gives the story machine an account exactly three instalments overdue', () => {
    const story = contracts.find((c) => c.deviceId === 'SIM-000001')!;
    expect(assess(story)).toMatchObject({ stage: 3, overdueInstalments: 3 });
  });

  it('finds the story machine by its machine, whatever its box is called', () => {
    const renamed = fleet(200).map((m) => ({ ...m, deviceId: m.deviceId.replace('SIM', 'E2E-t1') }));
    const again = generateDemoContracts(renamed, { seed: 42, asOf: AS_OF });
    const story = again.find((c) => c.deviceId === 'E2E-t1-000001')!;
    expect(assess(story)).toMatchObject({ stage: 3, overdueInstalments: 3 });
    expect(again.map((c) => assess(c))).toEqual(contracts.map((c) => assess(c)));
  });

  it('includes partial payments, a late payer who caught up and settled contracts', () => {
    const got = contracts.map((c) => ({ c, a: assess(c) }));
    expect(got.some(({ a }) => a.instalments.some((i) => i.paid > 0 && i.unpaid > 0))).toBe(true);
    expect(got.some(({ a }) => a.stage === 0 && a.penaltyAccrued > 0)).toBe(true);
    expect(got.filter(({ a }) => a.settled).length).toBeGreaterThanOrEqual(3);
  });

  it('keeps money in whole fen and payments on or before as-of', () => {
    for (const c of contracts) {
      const money = [
        c.principal,
        c.downPayment,
        ...c.instalments.flatMap((i) => [i.principal, i.interest, i.fees]),
        ...c.payments.map((p) => p.amount),
      ];
      for (const m of money) expect(Number.isSafeInteger(m) && m >= 0, c.number).toBe(true);
      expect(c.principal).toBeGreaterThanOrEqual(30_000_000);
      expect(c.principal).toBeLessThanOrEqual(250_000_000);
      expect(c.instalments.reduce((a, i) => a + i.principal, 0)).toBe(c.principal - c.downPayment);
      expect(c.payments.every((p) => p.date <= AS_OF && p.amount > 0)).toBe(true);
      expect(c.payments.map((p) => p.date)).toEqual(c.payments.map((p) => p.date).sort());
      expect(new Set(c.payments.map((p) => p.reference)).size).toBe(c.payments.length);
    }
  });

  it('produces plausible contracts, parties and dealers', () => {
    const numbers = new Set(contracts.map((c) => c.number));
    expect(numbers.size).toBe(contracts.length);
    for (const c of contracts) {
      expect(c.number).toMatch(/^HT-20\d{2}-\d{6}$/);
      expect(['loan', 'finance_lease', 'instalment_sale']).toContain(c.kind);
      expect([24, 36, 48]).toContain(c.termMonths);
      expect(c.customer.name).toMatch(/^\p{Script=Han}{2,3}$/u);
      expect(c.guarantor.name).toMatch(/^\p{Script=Han}{2,3}$/u);
      expect(c.customer.phone).toMatch(/^1\d{2} \d{4} \d{4}$/);
      expect(c.customer.nationalId).toMatch(/^\d{17}[\dX]$/);
      const months = (Date.parse(AS_OF) - Date.parse(c.startDate)) / (30.44 * 864e5);
      expect(months).toBeGreaterThanOrEqual(12);
      expect(months).toBeLessThanOrEqual(30);
    }
    const xuzhou = contracts.find((c) => c.deviceId === 'SIM-000001')!;
    expect(xuzhou.customer.homeAddress).toMatch(/^江苏省徐州市/);
    const dealersPerProvince = new Map<string, Set<string>>();
    for (const c of contracts) {
      dealersPerProvince.set(
        c.dealer.province,
        (dealersPerProvince.get(c.dealer.province) ?? new Set()).add(c.dealer.id),
      );
    }
    for (const ids of dealersPerProvince.values()) expect(ids.size).toBeLessThanOrEqual(5);
  });
});
