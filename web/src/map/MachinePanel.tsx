/**
 * The side panel of the selected machine: the account (from the contract API), the machine and
 * box health, 30 days of engine hours, where to look, the trail with playback, a navigation link
 * and trail exports.
 */
import { useEffect, useState } from 'react';
import type { ContractView } from '../../../shared/api/contracts.ts';
import type { MachineHistory, SitesAnswerView as SitesAnswer } from '../../../shared/api/location.ts';
import type { MachineFeature } from '../../../shared/map.ts';
import { download, getJson } from '../api.ts';
import { UNKNOWN } from '../common/format.ts';
import { navigate } from '../common/route.ts';
import { stageColor } from '../common/stage.ts';
import { useApi } from '../common/useApi.ts';
import { type Formatters, useFormat } from '../i18n/index.ts';
import { EngineHoursChart } from './EngineHoursChart.tsx';
import { dailySeries } from './history.ts';
import { type NavDatum, navigationLink } from './navigation.ts';
import { fixesFromTrack, lastDay, type TrailFix, type TrailRange, trackQuery } from './playback.ts';

export interface MachinePanelProps {
  machine: MachineFeature;
  onClose: () => void;
  /** The trail to draw and the playback moment; null hides it. */
  onTrail: (trail: { fixes: TrailFix[]; at: number | null } | null) => void;
}

const EXPORTS = ['geojson', 'gpx', 'kml'] as const;

export function MachinePanel({ machine, onClose, onTrail }: MachinePanelProps) {
  const f = useFormat();
  const { t } = f;
  const p = machine.properties;
  const contract = useApi<ContractView>(
    p.contractId ? `/api/contracts/${encodeURIComponent(p.contractId)}` : null,
  );
  const history = useApi<MachineHistory>(
    p.machineId ? `/api/machines/${encodeURIComponent(p.machineId)}/history?days=30` : null,
  );
  const sites = useApi<SitesAnswer>(
    p.machineId ? `/api/machines/${encodeURIComponent(p.machineId)}/sites` : null,
  );
  const [lon, lat] = machine.geometry.coordinates as [number, number];

  return (
    <aside className="side-panel" data-testid="machine-panel" data-device-id={p.deviceId}>
      <header className="side-panel__header">
        <h2>{t('panel.title', { id: p.deviceId })}</h2>
        <button type="button" className="link" onClick={onClose} aria-label={t('common.close')}>
          ×
        </button>
      </header>
      <section>
        <h3>{t('panel.account')}</h3>
        {!p.contractId && <p>{t('panel.noContract')}</p>}
        {contract.error && <p className="error">{t('common.error', { message: contract.error })}</p>}
        {contract.data && <AccountFigures contract={contract.data} f={f} />}
      </section>
      <section>
        <h3>{t('panel.health')}</h3>
        <Health history={history.data} machine={machine} f={f} />
        {history.data && (
          <EngineHoursChart series={dailySeries(history.data.from, history.data.to, history.data.days)} />
        )}
      </section>
      <section>
        <h3>{t('panel.sites')}</h3>
        <Sites answer={sites.data} f={f} />
      </section>
      <Trail deviceId={p.deviceId} onTrail={onTrail} f={f} />
      <Navigate lon={lon} lat={lat} name={p.contractNumber ?? p.deviceId} f={f} />
    </aside>
  );
}

function AccountFigures({ contract: c, f }: { contract: ContractView; f: Formatters }) {
  const { t } = f;
  const g = c.guarantors[0];
  const rows: [string, string, string][] = [
    [t('machine.contract'), c.number, 'contract'],
    [t('machine.customer'), c.customer.name, 'customer'],
    [t('panel.phone'), c.customer.phone ?? UNKNOWN, 'phone'],
    [t('panel.guarantor'), g ? `${g.name}${g.phone ? ` · ${g.phone}` : ''}` : UNKNOWN, 'guarantor'],
    [t('panel.overdueAmount'), f.money(c.overdue.overdueAmount), 'overdue-amount'],
    [t('panel.daysPastDue'), f.number(c.overdue.daysPastDue), 'days-past-due'],
    [
      t('accounts.stage'),
      `${t('stage.short', { stage: c.overdue.stage })} · ${t(`stage.${c.overdue.stage}`)}`,
      'stage',
    ],
    [t('panel.nextAction'), f.nextAction(c.nextAction.code, c.nextAction.text), 'next-action'],
  ];
  return (
    <>
      <dl className="figures" data-testid="panel-account" data-contract-id={c.id}>
        {rows.map(([label, value, id]) => (
          <div key={id}>
            <dt>{label}</dt>
            <dd data-testid={`panel-${id}`}>
              {id === 'stage' && <span className="dot" style={{ background: stageColor(c.overdue.stage) }} />}
              {value}
            </dd>
          </div>
        ))}
      </dl>
      <button type="button" className="link" onClick={() => navigate({ page: 'contract', contractId: c.id })}>
        {t('common.openCase')}
      </button>
    </>
  );
}

function Health({
  history,
  machine,
  f,
}: {
  history: MachineHistory | undefined;
  machine: MachineFeature;
  f: Formatters;
}) {
  const { t } = f;
  const h = history?.health;
  const v = (x: number | null | undefined, key: 'panel.volts' | 'panel.dbm', digits = 1) =>
    x === null || x === undefined ? UNKNOWN : t(key, { value: f.number(x, digits) });
  const rows: [string, string, string][] = [
    [
      t('machine.lastSeen'),
      `${f.dateTime(machine.properties.lastSeen)} (${f.ago(machine.properties.lastSeen)})`,
      'last-seen',
    ],
    [
      t('panel.online'),
      h?.online == null ? UNKNOWN : h.online ? t('panel.onlineYes') : t('panel.onlineNo'),
      'online',
    ],
    [t('panel.supply'), v(h?.pwr, 'panel.volts'), 'supply'],
    [t('panel.backup'), v(h?.bat, 'panel.volts'), 'backup'],
    [t('panel.signal'), v(h?.rssi, 'panel.dbm', 0), 'signal'],
    [
      t('machine.relay'),
      machine.properties.rly === null
        ? UNKNOWN
        : machine.properties.rly
          ? t('machine.relayEngaged')
          : t('machine.relayReleased'),
      'relay',
    ],
    [t('panel.alarms'), h && h.alarms.length > 0 ? h.alarms.join(', ') : t('common.none'), 'alarms'],
  ];
  return (
    <dl className="figures" data-testid="panel-health">
      {rows.map(([label, value, id]) => (
        <div key={id}>
          <dt>{label}</dt>
          <dd data-testid={`health-${id}`}>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Sites({ answer, f }: { answer: SitesAnswer | undefined; f: Formatters }) {
  const { t } = f;
  if (!answer) return <p>{t('common.loading')}</p>;
  if (answer.sites.length === 0 && !answer.bestNow) return <p>{t('panel.noSites')}</p>;
  return (
    <ol className="sites" data-testid="panel-sites">
      {answer.bestNow && (
        <li>
          <strong>{t('panel.bestNow')}</strong>: {answer.bestNow.note}
        </li>
      )}
      {answer.sites.slice(0, 5).map((s) => (
        <li key={s.rank}>
          {t('panel.siteLine', {
            rank: s.rank,
            labels: s.labels.map((l) => t(`panel.site_${l}`)).join(', ') || UNKNOWN,
            visits: s.visits,
          })}
        </li>
      ))}
    </ol>
  );
}

function Trail({
  deviceId,
  onTrail,
  f,
}: {
  deviceId: string;
  onTrail: MachinePanelProps['onTrail'];
  f: Formatters;
}) {
  const { t } = f;
  // null: the last 24 hours as of each use; the user's own range once a field is edited.
  const [chosen, setChosen] = useState<TrailRange | null>(null);
  const range = chosen ?? lastDay(Date.now());
  const [fixes, setFixes] = useState<TrailFix[] | null>(null);
  const [at, setAt] = useState<number | null>(null);
  const [playing, setPlaying] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const query = () =>
    `/api/devices/${encodeURIComponent(deviceId)}/track?${trackQuery(chosen ?? lastDay(Date.now()))}`;

  const load = async () => {
    setError(null);
    try {
      const list = fixesFromTrack(await getJson<unknown>(`${query()}&format=geojson`));
      setFixes(list);
      const start = list[0]?.t ?? null;
      setAt(start);
      onTrail({ fixes: list, at: start });
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const hide = () => {
    setFixes(null);
    setPlaying(false);
    onTrail(null);
  };
  const seek = (value: number) => {
    setAt(value);
    if (fixes) onTrail({ fixes, at: value });
  };

  // Playback runs through the trail in about 20 seconds, whatever its span.
  useEffect(() => {
    if (!playing || !fixes || fixes.length < 2) return;
    const first = fixes[0]!.t;
    const last = fixes[fixes.length - 1]!.t;
    const step = (last - first) / 100;
    const timer = setInterval(() => {
      setAt((current) => {
        const next = Math.min(last, (current ?? first) + step);
        onTrail({ fixes, at: next });
        if (next >= last) setPlaying(false);
        return next;
      });
    }, 200);
    return () => clearInterval(timer);
  }, [playing, fixes, onTrail]);

  const first = fixes?.[0]?.t;
  const last = fixes?.[fixes.length - 1]?.t;
  return (
    <section data-testid="panel-trail">
      <h3>{t('panel.trail')}</h3>
      <div className="trail-range">
        <label>
          {t('panel.trailFrom')}
          <input
            type="datetime-local"
            value={range.from}
            onChange={(e) => setChosen({ ...range, from: e.target.value })}
          />
        </label>
        <label>
          {t('panel.trailTo')}
          <input
            type="datetime-local"
            value={range.to}
            onChange={(e) => setChosen({ ...range, to: e.target.value })}
          />
        </label>
      </div>
      <div className="row">
        {fixes === null ? (
          <button type="button" data-testid="show-trail" onClick={() => void load()}>
            {t('panel.showTrail')}
          </button>
        ) : (
          <button type="button" onClick={hide}>
            {t('panel.hideTrail')}
          </button>
        )}
        {EXPORTS.map((format) => (
          <button
            key={format}
            type="button"
            className="secondary"
            data-testid={`export-${format}`}
            title={t('panel.export')}
            onClick={() =>
              void download(`${query()}&format=${format}`, `${deviceId}-track.${format}`).catch((e: Error) =>
                setError(e.message),
              )
            }
          >
            {format.toUpperCase()}
          </button>
        ))}
      </div>
      {error && <p className="error">{t('common.error', { message: error })}</p>}
      {fixes !== null && fixes.length === 0 && <p>{t('panel.trailEmpty')}</p>}
      {fixes !== null && first !== undefined && last !== undefined && (
        <div className="playback" data-testid="playback" data-fixes={fixes.length}>
          <p>
            {t('panel.trailPoints', { count: fixes.length })} ·{' '}
            {f.dateTime(new Date(at ?? first).toISOString())}
          </p>
          <div className="row">
            <button type="button" data-testid="playback-toggle" onClick={() => setPlaying(!playing)}>
              {playing ? t('panel.pause') : t('panel.play')}
            </button>
            <input
              type="range"
              aria-label={t('panel.playback')}
              data-testid="playback-slider"
              min={first}
              max={last}
              step={Math.max(1, Math.round((last - first) / 500))}
              value={at ?? first}
              onChange={(e) => seek(Number(e.target.value))}
            />
          </div>
        </div>
      )}
    </section>
  );
}

function Navigate({ lon, lat, name, f }: { lon: number; lat: number; name: string; f: Formatters }) {
  const { t } = f;
  const [datum, setDatum] = useState<NavDatum>(f.locale === 'zh-CN' ? 'gcj02' : 'wgs84');
  return (
    <section>
      <h3>{t('panel.navigate')}</h3>
      <div className="row">
        <select
          value={datum}
          onChange={(e) => setDatum(e.target.value as NavDatum)}
          aria-label={t('panel.datum')}
        >
          <option value="gcj02">{t('panel.datumAmap')}</option>
          <option value="wgs84">{t('panel.datumWgs')}</option>
        </select>
        <a
          className="button"
          data-testid="navigate-link"
          href={navigationLink(lon, lat, datum, name)}
          target="_blank"
          rel="noreferrer"
        >
          {t('panel.navigate')}
        </a>
      </div>
    </section>
  );
}
