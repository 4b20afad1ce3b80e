/** Accounts by stage, worst first: overdue figures and the next action; a row opens the case file. */
import { useState } from 'react';
import type { AccountsPage as Page } from '../../../shared/api/contracts.ts';
import { STAGE_COLORS, stageColor } from '../common/stage.ts';
import { useApi } from '../common/useApi.ts';
import { useFormat } from '../i18n/index.ts';
import { useNotice, useResync } from '../live/events.ts';

const PAGE_SIZE = 50;

export function AccountsPage({ defaultStage }: { defaultStage: number | null }) {
  const f = useFormat();
  const { t } = f;
  const [stage, setStage] = useState<number | null>(defaultStage);
  const [page, setPage] = useState(1);
  const q = new URLSearchParams({
    sort: 'daysPastDue',
    order: 'desc',
    page: String(page),
    pageSize: String(PAGE_SIZE),
  });
  if (stage !== null) q.set('stage', String(stage));
  const accounts = useApi<Page>(`/api/accounts?${q}`);
  useNotice('stages:update', () => accounts.reload());
  useResync(() => accounts.reload());
  const data = accounts.data;

  return (
    <div className="accounts" data-testid="accounts-page">
      <header className="page__header">
        <h1>{t('accounts.title')}</h1>
        <fieldset className="row stage-filter--plain" aria-label={t('accounts.stageFilter')}>
          {[null, 3, 2, 1, 0].map((s) => (
            <button
              key={String(s)}
              type="button"
              className="stage-filter__option"
              aria-pressed={stage === s}
              data-testid={`accounts-stage-${s ?? 'any'}`}
              onClick={() => {
                setStage(s);
                setPage(1);
              }}
            >
              {s !== null && (
                <span className="dot" style={{ background: STAGE_COLORS[s as 0 | 1 | 2 | 3] }} />
              )}
              {s === null ? t('accounts.any') : t('stage.short', { stage: s })}
            </button>
          ))}
        </fieldset>
        {data && <span className="muted">{t('accounts.total', { count: data.total })}</span>}
      </header>
      {accounts.error && <p className="error">{t('common.error', { message: accounts.error })}</p>}
      <table className="accounts__table" data-testid="accounts-table">
        <thead>
          <tr>
            <th>{t('accounts.number')}</th>
            <th>{t('accounts.customer')}</th>
            <th>{t('accounts.dealer')}</th>
            <th>{t('accounts.stage')}</th>
            <th className="num">{t('accounts.overdue')}</th>
            <th className="num">{t('accounts.dpd')}</th>
            <th>{t('accounts.nextAction')}</th>
          </tr>
        </thead>
        <tbody>
          {(data?.items ?? []).map((a) => (
            <tr
              key={a.contractId}
              data-testid="account-row"
              data-contract-id={a.contractId}
              data-stage={a.stage}
            >
              <td>
                <a href={`#/contracts/${encodeURIComponent(a.contractId)}`}>{a.number}</a>
              </td>
              <td>{a.customer}</td>
              <td>{a.dealer ?? ''}</td>
              <td>
                <span className="dot" style={{ background: stageColor(a.stage) }} /> {a.stage}
              </td>
              <td className="num">{f.money(a.overdueAmount)}</td>
              <td className="num">{f.number(a.daysPastDue)}</td>
              <td>{f.nextAction(a.nextAction)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && data.total > PAGE_SIZE && (
        <div className="row">
          <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>
            {t('accounts.prev')}
          </button>
          <span>
            {page} / {Math.ceil(data.total / PAGE_SIZE)}
          </span>
          <button type="button" disabled={page * PAGE_SIZE >= data.total} onClick={() => setPage(page + 1)}>
            {t('accounts.next')}
          </button>
        </div>
      )}
    </div>
  );
}
