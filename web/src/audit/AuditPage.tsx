/** The audit log with the hash chain's verification status (auditors and administrators). */
import type { AuditPage as AuditEntries, AuditVerify } from '../../../shared/api/audit.ts';
import { useApi } from '../common/useApi.ts';
import { useFormat } from '../i18n/index.ts';

export function AuditPage() {
  const f = useFormat();
  const { t } = f;
  const verify = useApi<AuditVerify>('/api/audit/verify');
  const entries = useApi<AuditEntries>('/api/audit?limit=200');
  const v = verify.data;
  return (
    <div className="audit" data-testid="audit-page">
      <header className="page__header">
        <h1>{t('audit.title')}</h1>
        <button type="button" onClick={verify.reload}>
          {t('audit.verify')}
        </button>
      </header>
      {verify.error && <p className="error">{t('common.error', { message: verify.error })}</p>}
      {v && (
        <p className={v.ok ? 'ok' : 'error'} data-testid="audit-status" data-ok={v.ok}>
          {v.ok
            ? t('audit.ok', { count: v.count })
            : t('audit.broken', { seq: v.firstBroken?.seq, reason: v.firstBroken?.reason })}
          {v.head && (
            <span className="muted mono">
              {' '}
              · {t('audit.head', { seq: v.head.seq, hash: v.head.hash.slice(0, 16) })}
            </span>
          )}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>{t('audit.seq')}</th>
            <th>{t('audit.at')}</th>
            <th>{t('audit.actor')}</th>
            <th>{t('audit.action')}</th>
            <th>{t('audit.subject')}</th>
          </tr>
        </thead>
        <tbody>
          {(entries.data?.entries ?? []).map((e) => (
            <tr key={e.seq}>
              <td>{e.seq}</td>
              <td>{f.dateTime(e.at)}</td>
              <td>{e.actor}</td>
              <td>{e.action}</td>
              <td>{e.subject}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
