/**
 * Demo finance contracts for the simulated fleet: one per machine, with customer, guarantor, dealer,
 * an annuity schedule and a payment history. Deterministic: randomness comes from the seed (keyed
 * per machine, see rng.ts) and time from the caller's `asOf`. Stages are never set here: each
 * customer gets a payer profile (what they did), and the stage is whatever the overdue engine makes
 * of the payments — so the demo exercises the real rules.
 */
import { addDays, addMonthsClamped, type IsoDate, toDayNumber } from '../shared/calendar-date.ts';
import { PLATFORM_TIME_ZONE } from '../shared/config.ts';
import type { Fen } from '../shared/money.ts';
import type { Instalment, Payment, Stage } from '../shared/overdue.ts';
import { buildSchedule, instalmentAmount } from '../shared/schedule.ts';
import { machineIdFor } from './identity.ts';
import { CITIES } from './places.ts';
import { createRng, hashSeed, type Rng } from './rng.ts';
import { STORY_INDEX } from './story.ts';

export type ContractKind = 'loan' | 'finance_lease' | 'instalment_sale';

/**
 * What the simulated customer did, with each behaviour's share in percent: ~70 % end current, then
 * 12 / 8 / 10 % end 1, 2 or ≥ 3 instalments behind. Behaviour, not a stage: the engine decides that.
 */
export const PAYER_PROFILE_MIX = {
  punctual: 50,
  late_caught_up: 8,
  partial_made_up: 6,
  prepaid: 3,
  settled: 3,
  one_behind: 12,
  two_behind: 8,
  stopped_paying: 10,
} as const satisfies Record<string, number>;
export type PayerProfile = keyof typeof PAYER_PROFILE_MIX;

/** The stage a profile should produce with the default thresholds; tests hold the engine to it. */
export function intendedStage(profile: PayerProfile): Stage {
  if (profile === 'one_behind') return 1;
  if (profile === 'two_behind') return 2;
  return profile === 'stopped_paying' ? 3 : 0;
}

export interface DemoMachine {
  machineId: string;
  deviceId: string;
  province: string;
  city: string;
}

export interface DemoCustomer {
  id: string;
  name: string;
  phone: string;
  nationalId: string;
  homeAddress: string;
}

export interface DemoGuarantor {
  name: string;
  phone: string;
  relation: 'spouse' | 'parent' | 'sibling' | 'business_partner' | 'friend';
}

export interface DemoDealer {
  id: string;
  name: string;
  province: string;
  city: string;
}

export interface DemoContract {
  id: string;
  /** 'HT-<start year>-<6 digits>', HT for 合同. */
  number: string;
  machineId: string;
  deviceId: string;
  kind: ContractKind;
  currency: 'CNY';
  customer: DemoCustomer;
  guarantor: DemoGuarantor;
  dealer: DemoDealer;
  /** Machine price financed under the contract, fen; the schedule covers principal − downPayment. */
  principal: Fen;
  downPayment: Fen;
  annualRateBp: number;
  termMonths: number;
  startDate: IsoDate;
  firstDueDate: IsoDate;
  penaltyRateBp: number;
  graceDays: number;
  timeZone: string;
  instalments: Instalment[];
  /** Dated on or before `asOf`, oldest first. */
  payments: Payment[];
  payerProfile: PayerProfile;
}

export interface DemoContractOptions {
  seed: number;
  /** The demo's "today", a contract-local date: no payment is dated after it. */
  asOf: IsoDate;
}

/** The story machine's account is exactly three instalments overdue (see story.ts). */
/** The story machine, whatever its box's id prefix. */
const STORY_MACHINE_ID = machineIdFor(STORY_INDEX);

// Word lists as space-separated strings, so the formatter keeps them to a few lines.
const words = (text: string) => text.trim().split(/\s+/);
/** [GB/T 2260 province code, Chinese, pinyin]. */
const PROVINCES = words(`
  11:北京市:beijing 12:天津市:tianjin 13:河北省:hebei 14:山西省:shanxi 15:内蒙古自治区:inner-mongolia
  21:辽宁省:liaoning 22:吉林省:jilin 23:黑龙江省:heilongjiang 31:上海市:shanghai 32:江苏省:jiangsu
  33:浙江省:zhejiang 34:安徽省:anhui 35:福建省:fujian 36:江西省:jiangxi 37:山东省:shandong 41:河南省:henan
  42:湖北省:hubei 43:湖南省:hunan 44:广东省:guangdong 45:广西壮族自治区:guangxi 46:海南省:hainan
  50:重庆市:chongqing 51:四川省:sichuan 52:贵州省:guizhou 53:云南省:yunnan 54:西藏自治区:tibet 61:陕西省:shaanxi
  62:甘肃省:gansu 63:青海省:qinghai 64:宁夏回族自治区:ningxia 65:新疆维吾尔自治区:xinjiang`).map((row) =>
  row.split(':'),
);
const SURNAMES = [
  ...'王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈',
];
const GIVEN = [...'伟强军磊洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆建国志海东林峰亮红霞芳丽敏静燕玉兰春'];
const ROADS = words('人民路 建设路 解放路 中山路 和平路 胜利路 文化路 工业大道 长江路 黄河路');
const DEALER_WORDS = words('恒力 宏达 鑫源 顺通 华建 远大 盛世 金桥 东方 永信 铁牛 同力');
const PHONE_PREFIXES = words('130 131 133 135 136 137 138 139 150 151 152 158 176 186 187 188 189');
const RELATIONS = words(
  'spouse spouse parent sibling business_partner friend',
) as DemoGuarantor['relation'][];
const KINDS = words('loan loan finance_lease finance_lease finance_lease instalment_sale') as ContractKind[];

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const hasHan = (s: string) => /\p{Script=Han}/u.test(s);

interface Place {
  code: string;
  province: string;
  city: string;
}

/** The machine's place in Chinese where we know it (the fleet speaks pinyin), else as given. */
function placeOf(m: DemoMachine): Place {
  const key = m.province.toLowerCase().replace(/\s+/g, '-');
  const row = PROVINCES.find(([, zh, py]) => key.startsWith(py!) || m.province.startsWith(zh!.slice(0, 2)));
  const city = CITIES.find((c) => c.name === m.city || c.nameZh === m.city);
  const code = row?.[0] ?? String(11 + (Math.abs(hashSeed(m.province)) % 55));
  return { code, province: row?.[1] ?? m.province, city: city?.nameZh ?? m.city };
}

function personName(rng: Rng, surname = rng.pick(SURNAMES)): string {
  return surname + rng.pick(GIVEN) + (rng.chance(0.7) ? rng.pick(GIVEN) : '');
}

const phone = (rng: Rng) =>
  `${rng.pick(PHONE_PREFIXES)} ${pad(rng.int(0, 9999), 4)} ${pad(rng.int(0, 9999), 4)}`;

/** 18 characters: area, birth date, sequence and the GB 11643 check character. Fictitious. */
function nationalId(rng: Rng, provinceCode: string, asOf: IsoDate): string {
  const born = addDays(asOf, -rng.int(25 * 365, 58 * 365)).replaceAll('-', '');
  const body = `${provinceCode}${pad(rng.int(1, 15), 2)}${pad(rng.int(1, 30), 2)}${born}${pad(rng.int(1, 999), 3)}`;
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((acc, digit, i) => acc + Number(digit) * weights[i]!, 0);
  return body + '10X98765432'[sum % 11];
}

function address(rng: Rng, place: Place): string {
  const street = `${rng.pick(ROADS)}${rng.int(1, 399)}号`;
  const flat = rng.chance(0.6)
    ? `${rng.int(1, 30)}栋${rng.int(1, 4)}单元${rng.int(1, 28)}0${rng.int(1, 4)}室`
    : '';
  if (!hasHan(place.city)) return `${street}${flat}, ${place.city}, ${place.province}`;
  // Postal style: 江苏省徐州市…, but 北京市… once for a municipality.
  const city = /(市|自治州|盟|地区)$/u.test(place.city) ? place.city : `${place.city}市`;
  return `${place.province === city ? '' : place.province}${city}${street}${flat}`;
}

/** A handful of dealers per province, spread over the cities the fleet works in there. */
function dealersFor(seed: number, place: Place, cities: readonly string[]): DemoDealer[] {
  const rng = createRng(seed, 'dealers', place.code, place.province);
  const words = [...DEALER_WORDS];
  return Array.from({ length: rng.int(3, 5) }, (_, k) => {
    const word = words.splice(rng.int(0, words.length - 1), 1)[0]!;
    const city = cities[k % cities.length]!;
    const name = hasHan(city) ? `${city}${word}工程机械有限公司` : `${city} ${word} Machinery Co.`;
    return { id: `DL-${place.code}-${pad(k + 1, 2)}`, name, province: place.province, city };
  });
}

/**
 * Exact quotas (largest remainder), handed out by a per-machine hash rank so the spread holds for
 * any seed and a machine keeps its profile whatever order the fleet is listed in.
 */
function assignProfiles(seed: number, machines: readonly DemoMachine[]): PayerProfile[] {
  const profiles = Object.keys(PAYER_PROFILE_MIX) as PayerProfile[];
  const n = machines.length;
  const exact = profiles.map((p) => (n * PAYER_PROFILE_MIX[p]) / 100);
  const quota = exact.map(Math.floor);
  const byRemainder = profiles
    .map((_, i) => i)
    .sort((a, b) => exact[b]! - quota[b]! - (exact[a]! - quota[a]!));
  for (let k = 0; quota.reduce((a, b) => a + b, 0) < n; k++) quota[byRemainder[k]!]!++;
  const result = new Array<PayerProfile>(n);
  const story = machines.findIndex((m) => m.machineId === STORY_MACHINE_ID);
  if (story >= 0) {
    result[story] = 'stopped_paying';
    quota[profiles.indexOf('stopped_paying')]!--;
  }
  const order = machines
    .map((m, i) => ({ i, rank: hashSeed(seed, 'profile', m.machineId) }))
    .filter(({ i }) => i !== story)
    .sort((a, b) => a.rank - b.rank || a.i - b.i);
  let p = 0;
  for (const { i } of order) {
    while (quota[p]! <= 0) p++;
    quota[p]!--;
    result[i] = profiles[p]!;
  }
  return result;
}

/**
 * Builds the payments in date order while tracking what the engine's oldest-first allocation will
 * do with them, so "pay the next two instalments" means exactly those two, to the fen.
 */
class Payer {
  readonly payments: Array<Omit<Payment, 'reference'>> = [];
  private next = 0;
  private paidTowardsNext = 0;
  constructor(private readonly instalments: readonly Instalment[]) {}

  /** Pays off the next `count` instalments (any partly paid one first) on `date`. */
  instalmentsOn(date: IsoDate, count: number): void {
    let amount = -this.paidTowardsNext;
    for (let k = 0; k < count && this.next < this.instalments.length; k++) {
      amount += instalmentAmount(this.instalments[this.next++]!);
    }
    this.paidTowardsNext = 0;
    if (amount > 0) this.payments.push({ date, amount });
  }

  /** Pays `percent` of what is left on the next instalment, in whole ¥100s, never all of it. */
  partOn(date: IsoDate, percent: number): void {
    const instalment = this.instalments[this.next];
    if (!instalment) return;
    const left = instalmentAmount(instalment) - this.paidTowardsNext;
    const amount = Math.min(left - 1, Math.max(10_000, Math.floor((left * percent) / 100 / 10_000) * 10_000));
    if (amount <= 0) return;
    this.paidTowardsNext += amount;
    this.payments.push({ date, amount });
  }
}

/** A customer paying on time: mostly on the due date or up to a week early, sometimes within grace. */
function onTime(rng: Rng, due: IsoDate, graceDays: number): IsoDate {
  const roll = rng.int(1, 10);
  if (roll <= 4) return due;
  if (roll <= 8 || graceDays === 0) return addDays(due, -rng.int(1, 7));
  return addDays(due, rng.int(1, graceDays));
}

function payHistory(rng: Rng, profile: PayerProfile, c: DemoContract, asOf: IsoDate, story: boolean): Payer {
  const { instalments, graceDays } = c;
  const asOfDay = toDayNumber(asOf);
  // Instalments already past grace decide the stage; a contract 12+ months old has at least ten.
  const pastGrace = instalments.filter((i) => toDayNumber(i.dueDate) + graceDays < asOfDay).length;
  const payer = new Payer(instalments);
  const due = (k: number) => instalments[k]!.dueDate;
  const payMonthly = (end: number, skip: (k: number) => boolean = () => false) => {
    for (let k = 0; k < end; k++) {
      const date = onTime(rng, due(k), graceDays);
      if (!skip(k) && date <= asOf) payer.instalmentsOn(date, 1);
    }
  };
  const fallBehind = (count: number) => {
    if (!story && count <= 2 && rng.chance(0.4)) {
      // Chronically late: skipped `count` recent months yet pays in all the other months, and each payment
      // clears the oldest debt, so the account stays exactly `count` behind.
      const recent = Array.from({ length: Math.min(6, pastGrace) }, (_, k) => pastGrace - 1 - k);
      const missed = new Set(
        Array.from({ length: count }, () => recent.splice(rng.int(0, recent.length - 1), 1)[0]),
      );
      payMonthly(pastGrace, (k) => missed.has(k));
      return;
    }
    payMonthly(pastGrace - count);
    const partialOn = addDays(due(pastGrace - count), rng.int(0, 20));
    if (!story && rng.chance(0.4) && partialOn <= asOf) payer.partOn(partialOn, rng.int(20, 70));
  };

  switch (profile) {
    case 'punctual':
      payMonthly(instalments.length);
      break;
    case 'late_caught_up': {
      // Missed two months in a row, then paid all three at the third due date.
      const j = rng.int(Math.max(0, pastGrace - 9), pastGrace - 3);
      for (let k = 0; k < instalments.length; k++) {
        const date = k === j + 2 ? addDays(due(k), rng.int(0, graceDays)) : onTime(rng, due(k), graceDays);
        if (k !== j && k !== j + 1 && date <= asOf) payer.instalmentsOn(date, k === j + 2 ? 3 : 1);
      }
      break;
    }
    case 'partial_made_up': {
      const j = rng.int(Math.max(0, pastGrace - 8), pastGrace - 2);
      for (let k = 0; k < instalments.length; k++) {
        const date = onTime(rng, due(k), graceDays);
        if (date > asOf) continue;
        if (k === j) payer.partOn(date, rng.int(40, 80));
        else payer.instalmentsOn(date, k === j + 1 ? 2 : 1);
      }
      break;
    }
    case 'prepaid': {
      const j = rng.int(Math.max(0, pastGrace - 12), pastGrace - 3);
      for (let k = 0; k < instalments.length; k++) {
        const date = k === j ? addDays(due(k), -rng.int(3, 10)) : onTime(rng, due(k), graceDays);
        if (k !== j + 1 && date <= asOf) payer.instalmentsOn(date, k === j ? 2 : 1);
      }
      break;
    }
    case 'settled': {
      if (pastGrace === instalments.length) {
        payMonthly(pastGrace);
        break;
      }
      // Paid off early: one lump sum for everything still scheduled, just before a due date.
      const payoff = rng.int(Math.max(1, pastGrace - 6), pastGrace - 1);
      payMonthly(payoff);
      payer.instalmentsOn(addDays(due(payoff), -rng.int(0, 5)), instalments.length - payoff);
      break;
    }
    case 'one_behind':
      fallBehind(1);
      break;
    case 'two_behind':
      fallBehind(2);
      break;
    case 'stopped_paying':
      fallBehind(story ? 3 : rng.int(3, Math.min(8, pastGrace)));
      break;
  }
  return payer;
}

function contractFor(
  seed: number,
  machine: DemoMachine,
  index: number,
  place: Place,
  dealers: readonly DemoDealer[],
  profile: PayerProfile,
  asOf: IsoDate,
): DemoContract {
  const rng = createRng(seed, 'contract', machine.machineId);
  const kind = rng.pick(KINDS);
  // ¥300,000–¥2,500,000 in ¥1,000 steps, 20–40 % down, 4.00–9.00 % a year.
  const principal = rng.int(300, 2500) * 100_000;
  const downPayment = Math.floor(((principal / 100_000) * rng.int(20, 40)) / 100) * 100_000;
  const annualRateBp = rng.int(8, 18) * 50;
  const termMonths = rng.pick([24, 36, 48]);
  const startDate = addDays(asOf, -rng.int(366, 912));
  const firstDueDate = addMonthsClamped(startDate, 1);
  // Leases carry a ¥100 monthly management and GPS service fee in each instalment.
  const monthlyFee = kind === 'finance_lease' ? 10_000 : 0;
  const terms = { principal, downPayment, annualRateBp, termMonths, firstDueDate };
  const surname = rng.pick(SURNAMES);
  const relation = rng.pick(RELATIONS);
  const local = dealers.filter((d) => d.city === place.city);
  const number = `HT-${startDate.slice(0, 4)}-${pad(index + 1, 6)}`;
  const contract: DemoContract = {
    id: `CT-${pad(index + 1, 6)}`,
    number,
    machineId: machine.machineId,
    deviceId: machine.deviceId,
    kind,
    currency: 'CNY',
    customer: {
      id: `CU-${pad(index + 1, 6)}`,
      name: personName(rng, surname),
      phone: phone(rng),
      nationalId: nationalId(rng, place.code, asOf),
      homeAddress: address(rng, place),
    },
    guarantor: {
      name: personName(rng, relation === 'parent' || relation === 'sibling' ? surname : undefined),
      phone: phone(rng),
      relation,
    },
    dealer: rng.pick(local.length > 0 && rng.chance(0.75) ? local : dealers),
    ...terms,
    startDate,
    penaltyRateBp: rng.pick([3, 5, 5, 5]),
    graceDays: rng.pick([3, 3, 3, 5]),
    timeZone: PLATFORM_TIME_ZONE,
    instalments: buildSchedule({ ...terms, monthlyFee }),
    payments: [],
    payerProfile: profile,
  };
  const story = machine.machineId === STORY_MACHINE_ID;
  // Made in date order (the Payer relies on it), so the references count up with the dates.
  const made = payHistory(rng, profile, contract, asOf, story).payments;
  contract.payments = made.map((p, k) => ({ ...p, reference: `${number}-P${pad(k + 1, 3)}` }));
  return contract;
}

/** One contract per machine, in the order given. Same machines, seed and asOf: same contracts. */
export function generateDemoContracts(
  machines: readonly DemoMachine[],
  options: DemoContractOptions,
): DemoContract[] {
  const { seed, asOf } = options;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a whole number, got ${seed}`);
  toDayNumber(asOf);
  const places = machines.map(placeOf);
  const cities = new Map<string, Set<string>>();
  for (const p of places) cities.set(p.code, (cities.get(p.code) ?? new Set()).add(p.city));
  const dealers = new Map<string, DemoDealer[]>();
  const dealersIn = (place: Place) => {
    let list = dealers.get(place.code);
    if (!list) {
      list = dealersFor(seed, place, [...(cities.get(place.code) ?? [place.city])].sort());
      dealers.set(place.code, list);
    }
    return list;
  };
  const profiles = assignProfiles(seed, machines);
  return machines.map((m, i) =>
    contractFor(seed, m, i, places[i]!, dealersIn(places[i]!), profiles[i]!, asOf),
  );
}
