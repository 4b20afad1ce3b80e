/** Display formatting for machine data; `—` stands for "the device did not say". */

export const UNKNOWN = '—';

export function formatAgo(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return UNKNOWN;
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'in the future';
  if (s < 60) return 'just now';
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} days ago`;
}

export function formatDateTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return UNKNOWN;
  return new Date(t).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatOnOff(v: boolean | null): string {
  return v === null ? UNKNOWN : v ? 'On' : 'Off';
}

export function formatSpeed(kmh: number | null): string {
  return kmh === null ? UNKNOWN : `${Math.round(kmh)} km/h`;
}

export function formatHours(h: number | null): string {
  return h === null ? UNKNOWN : `${h.toLocaleString(undefined, { maximumFractionDigits: 1 })} h`;
}

export function formatRelay(engaged: boolean | null): string {
  return engaged === null ? UNKNOWN : engaged ? 'Engaged (no restart)' : 'Released';
}
