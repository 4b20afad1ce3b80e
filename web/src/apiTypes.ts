/**
 * The shapes of the api answers the app reads, as the OpenAPI document (/docs/json) describes
 * them. Money is integer fen; instants are ISO 8601; calendar dates YYYY-MM-DD.
 */
import type { Stage } from '../../shared/map.ts';

export interface AccountRow {
  contractId: string;
  number: string;
  customer: string;
  phone: string | null;
  dealer: string | null;
  machineId: string;
  deviceId: string | null;
  stage: Stage;
  overdueInstalments: number;
  overdueAmount: number;
  daysPastDue: number;
  penalty: number;
  nextAction: string;
  asOf: string | null;
}

export interface AccountsPage {
  total: number;
  page: number;
  pageSize: number;
  items: AccountRow[];
}

export interface ContractView {
  id: string;
  number: string;
  kind: string;
  status: string;
  currency: string;
  principal: number;
  timezone: string;
  customer: { id: string; name: string; phone: string | null; homeAddress: string | null };
  guarantors: { name: string; phone: string | null; relation: string | null }[];
  dealer: { id: string; name: string; province: string | null } | null;
  machine: { id: string; make: string; model: string; type: string; serial: string; year: number | null };
  installations: { deviceId: string; installedAt: string; removedAt: string | null }[];
  overdue: {
    asOf: string;
    stage: Stage;
    overdueInstalments: number;
    overdueAmount: number;
    daysPastDue: number;
    penalty: number;
    totalOutstanding: number;
    totalPaid: number;
  };
  instalments: {
    seq: number;
    dueDate: string;
    amountDue: number;
    paid: number;
    unpaid: number;
    status: 'paid' | 'not_due' | 'due' | 'overdue';
    paidOn: string | null;
    daysPastDue: number;
  }[];
  payments: { date: string; amount: number; reference: string; source: string }[];
  nextAction: { code: string; text: string; alternatives: string[]; gpsStopEligible: boolean };
}

export interface Activity {
  id: number;
  kind: string;
  actor: string;
  occurredAt: string;
  channel: string | null;
  outcome: string | null;
  body: string;
  superseded: boolean;
  promiseStatus: 'pending' | 'kept' | 'broken' | null;
}

export type CommandState =
  | 'REQUESTED'
  | 'APPROVED'
  | 'QUEUED'
  | 'SENT'
  | 'ACKED'
  | 'EXECUTED'
  | 'REJECTED'
  | 'CANCELLED'
  | 'EXPIRED'
  | 'FAILED'
  | (string & {});

export interface Evaluation {
  decision: 'allow' | 'wait' | 'deny';
  reasons: string[];
  missing: string[];
}

export interface CommandSummary {
  id: string;
  deviceId: string;
  contractId: string | null;
  type: 'immobilize' | 'release' | 'warn' | 'locate';
  state: CommandState;
  reason: string;
  requestedBy: string;
  requestedAt: string;
  emergency: boolean;
  executedAt: string | null;
}

export interface CommandView extends CommandSummary {
  evaluation: Evaluation;
  approvals: { by: string; decision: 'approve' | 'reject'; note: string; at: string }[];
  transitions: { from: string | null; to: string; at: string; actor: string; reason: string }[];
}

export interface MachineHistory {
  machineId: string;
  from: string;
  to: string;
  health: {
    deviceId: string;
    lastFixAt: string;
    online: boolean | null;
    pwr: number | null;
    bat: number | null;
    rssi: number | null;
    rly: boolean | null;
    alarms: string[];
  } | null;
  days: { day: string; engineHours: number; distanceKm: number; reports: number }[];
}

export interface Site {
  lat: number;
  lon: number;
  rank: number;
  labels: ('night_parking' | 'day_work_site' | 'last_seen')[];
  visits: number;
  dwellHours: number;
  lastVisit: string;
  confidence: number;
}

export interface SitesAnswer {
  sites: Site[];
  bestNow: { lat: number; lon: number; reason: string; note: string; confidence: number } | null;
}

export interface NearestMachine {
  machineId: string;
  deviceId: string;
  contractId: string;
  contractNumber: string;
  stage: number;
  lat: number;
  lon: number;
  lastFixAt: string;
  distanceM: number;
  compass: string;
}

export interface AlertView {
  id: string;
  kind: string;
  label: string;
  deviceId: string;
  machineId: string | null;
  contractId: string | null;
  status: 'open' | 'cleared';
  raisedAt: string;
  lastSeenAt: string;
  occurrences: number;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
}

export interface AuditVerify {
  ok: boolean;
  count: number;
  firstBroken: { seq: number; reason: string } | null;
  head: { seq: number; hash: string } | null;
}

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  hash: string;
}
