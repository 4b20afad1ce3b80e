/** Alerts, newest first, open by default; acknowledge says "seen, being handled". Live. */
import { useState } from 'react';
import type { AlertAnswer as AlertView } from '../../../shared/api/alerts.ts';
import { postJson } from '../api.ts';
import { useApi } from '../common/useApi.ts';
import { useFormat } from '../i18n/index.ts';
import { useNotice, useResync } from '../live/events.ts';

export function AlertsPage({ mayAcknowledge }: { mayAcknowledge: boolean }) {
  const f = useFormat();
  const { t } = f;
  const [status, setStatus] = useState<'open' | 'all'>('open');
  const alerts = useApi<AlertView[]>(`/api/alerts?status=${status}&limit=200`);
  useNotice('alerts:update', () => alerts.reload());
  useResync(() => alerts.reload());
  const [error, setError] = useState<string | null>(null);
  const acknowledge = async (id: string) => {
    setError(null);
    try {
      await postJson(`/api/alerts/${encodeURIComponent(id)}/acknowledge`, {});
      alerts.reload();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const kindLabel = (a: AlertView) => {
    const key = `alerts.kind_${a.kind}`;
    const text = t(key);
    return text === key ? a.label : text;
  };
  return (
    <div className="alerts" data-testid="alerts-page">
      <header className="page__header">
        <h1>{t('alerts.title')}</h1>
        <div className="row">
          {(['open', 'all'] as const).map((s) => (
            <button
              key={s}
              type="button"
              className="stage-filter__option"
              aria-pressed={status === s}
              onClick={() => setStatus(s)}
            >
              {t(`alerts.${s}`)}
            </button>
          ))}
        </div>
      </header>
      {(alerts.error || error) && (
        <p className="error">{t('common.error', { message: alerts.error ?? error })}</p>
      )}
      {alerts.data?.length === 0 && <p className="muted">{t('alerts.empty')}</p>}
      <table>
        <thead>
          <tr>
            <th>{t('alerts.kind')}</th>
            <th>{t('alerts.device')}</th>
            <th>{t('alerts.raised')}</th>
            <th>{t('alerts.seen')}</th>
            <th>{t('alerts.status')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(alerts.data ?? []).map((a) => (
            <tr key={a.id} data-testid="alert-row" data-alert-id={a.id}>
              <td>{kindLabel(a)}</td>
              <td>
                <a href={`#/map/${encodeURIComponent(a.deviceId)}`}>{a.deviceId}</a>
                {a.contractId && (
                  <>
                    {' · '}
                    <a href={`#/contracts/${encodeURIComponent(a.contractId)}`}>{a.contractId}</a>
                  </>
                )}
              </td>
              <td>{f.dateTime(a.raisedAt)}</td>
              <td>{f.ago(a.lastSeenAt)}</td>
              <td>{a.status}</td>
              <td>
                {a.acknowledgedAt ? (
                  <span className="muted">{t('alerts.acknowledgedBy', { who: a.acknowledgedBy })}</span>
                ) : (
                  mayAcknowledge && (
                    <button type="button" data-testid="acknowledge" onClick={() => void acknowledge(a.id)}>
                      {t('alerts.acknowledge')}
                    </button>
                  )
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
