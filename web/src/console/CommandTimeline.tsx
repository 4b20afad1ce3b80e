/**
 * One command's progress, live: reloaded over REST whenever a `commands:update` for it arrives
 * (the REST answer is the truth; the notice only says when to ask). Approve, reject and cancel
 * are offered to risk managers while the state allows.
 */
import { useState } from 'react';
import type { CommandView } from '../../../shared/api/commands.ts';
import { postJson } from '../api.ts';
import { useApi } from '../common/useApi.ts';
import { useFormat } from '../i18n/index.ts';
import { useNotice, useResync } from '../live/events.ts';
import { commandProgress } from './commandSteps.ts';
import { Evaluation } from './Evaluation.tsx';

export interface CommandTimelineProps {
  commandId: string;
  /** The signed-in user's username (a requester may not approve their own request). */
  username: string;
  mayDecide: boolean;
  onChanged?: () => void;
}

export function CommandTimeline({ commandId, username, mayDecide, onChanged }: CommandTimelineProps) {
  const f = useFormat();
  const { t } = f;
  const command = useApi<CommandView>(`/api/commands/${encodeURIComponent(commandId)}`);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useNotice('commands:update', (updates) => {
    if (updates.some((u) => u.commandId === commandId)) command.reload();
  });
  useResync(() => command.reload());

  const c = command.data;
  if (!c) return <p>{command.error ? t('common.error', { message: command.error }) : t('common.loading')}</p>;
  const progress = commandProgress(c);
  const act = async (action: 'approve' | 'reject' | 'cancel') => {
    setBusy(true);
    setError(null);
    try {
      await postJson(
        `/api/commands/${encodeURIComponent(c.id)}/${action}`,
        action === 'cancel' ? { reason: '' } : { note: '' },
      );
      command.reload();
      onChanged?.();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const own = c.requestedBy === username;
  return (
    <article className="command" data-testid="command" data-command-id={c.id} data-state={c.state}>
      <header>
        <strong>
          {t(`command.type_${c.type}`)}
          {c.emergency ? ` (${t('command.emergency')})` : ''}
        </strong>{' '}
        <span className="muted">
          {t('command.requestedBy', { who: c.requestedBy, when: f.dateTime(c.requestedAt) })}
        </span>
        <p className="muted">{c.reason}</p>
      </header>
      <ol className="timeline" data-testid="command-timeline" aria-label={t('command.timeline')}>
        {progress.steps.map((s) => (
          <li
            key={s.state}
            className={s.reached ? 'reached' : 'pending'}
            data-testid={`step-${s.state}`}
            data-reached={s.reached}
          >
            <span className="dot" aria-hidden="true" />
            {t(`command.state_${s.state}`)}
            {s.at && (
              <span className="muted">
                {' '}
                · {f.dateTime(s.at)} · {s.actor}
              </span>
            )}
          </li>
        ))}
        {progress.ending && (
          <li className="ended" data-testid={`step-${progress.ending.state}`}>
            <span className="dot" aria-hidden="true" />
            {t(`command.state_${progress.ending.state}`)}
            {progress.ending.at && (
              <span className="muted">
                {' '}
                · {f.dateTime(progress.ending.at)} · {progress.ending.actor} {progress.ending.reason}
              </span>
            )}
          </li>
        )}
      </ol>
      {c.decideBy && (
        <p className="decide-by" data-testid="decide-by" data-due={c.decideBy}>
          {t('command.decideBy', { when: f.dateTime(c.decideBy) })}
        </p>
      )}
      {c.state === 'REQUESTED' && <Evaluation evaluation={c.evaluation} />}
      {mayDecide && c.state === 'REQUESTED' && (
        <div className="row">
          {own ? (
            <p className="muted">{t('command.ownRequest')}</p>
          ) : (
            <>
              <button type="button" data-testid="approve" disabled={busy} onClick={() => void act('approve')}>
                {t('command.approve')}
              </button>
              <button
                type="button"
                className="secondary"
                data-testid="reject"
                disabled={busy}
                onClick={() => void act('reject')}
              >
                {t('command.reject')}
              </button>
            </>
          )}
          <button type="button" className="secondary" disabled={busy} onClick={() => void act('cancel')}>
            {t('command.cancel')}
          </button>
        </div>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </article>
  );
}
