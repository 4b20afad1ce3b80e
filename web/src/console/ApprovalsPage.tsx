/** Commands waiting for a second risk manager, oldest last; live as requests come and go. */
import type { CommandSummary } from '../../../shared/api/commands.ts';
import { useApi } from '../common/useApi.ts';
import { useFormat } from '../i18n/index.ts';
import { useNotice, useResync } from '../live/events.ts';
import { CommandTimeline } from './CommandTimeline.tsx';

export function ApprovalsPage({ username }: { username: string }) {
  const { t } = useFormat();
  const queue = useApi<CommandSummary[]>('/api/commands?state=REQUESTED');
  useNotice('commands:update', () => queue.reload());
  useResync(() => queue.reload());
  const items = queue.data ?? [];
  return (
    <div
      className="approvals"
      data-testid="approvals-page"
      data-count={queue.data ? items.length : undefined}
    >
      <header className="page__header">
        <h1>{t('approvals.title')}</h1>
      </header>
      {queue.error && <p className="error">{t('common.error', { message: queue.error })}</p>}
      {queue.data && items.length === 0 && <p className="muted">{t('approvals.empty')}</p>}
      {items.map((c) => (
        <div key={c.id} className="approvals__item">
          {c.contractId && (
            <a href={`#/contracts/${encodeURIComponent(c.contractId)}`} className="muted">
              {c.contractId} · {c.deviceId}
            </a>
          )}
          <CommandTimeline commandId={c.id} username={username} mayDecide onChanged={queue.reload} />
        </div>
      ))}
    </div>
  );
}
