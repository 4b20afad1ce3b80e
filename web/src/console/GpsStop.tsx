/**
 * GPS stop on a case file: request an immobilize (or a release; a release while the account is
 * still overdue is the emergency release) with a reason on the record. The answer is the command
 * with the policy's evaluation, shown at once in plain words; the command then appears in the
 * case file's command list with its live timeline.
 */
import { type FormEvent, useState } from 'react';
import type { CommandView } from '../../../shared/api/commands.ts';
import type { ContractView } from '../../../shared/api/contracts.ts';
import { postJson } from '../api.ts';
import { useFormat } from '../i18n/index.ts';
import { Evaluation } from './Evaluation.tsx';

export function GpsStop({
  contract,
  onRequested,
}: {
  contract: ContractView;
  onRequested: (c: CommandView) => void;
}) {
  const { t } = useFormat();
  const [reason, setReason] = useState('');
  const [last, setLast] = useState<CommandView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const overdue = contract.overdue.stage >= 1;

  const request = async (type: 'immobilize' | 'release', e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const c = await postJson<CommandView>('/api/commands', {
        contractId: contract.id,
        type,
        reason: reason.trim(),
      });
      setLast(c);
      setReason('');
      onRequested(c);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="gps-stop" data-testid="gps-stop">
      <h3>{t('gpsStop.title')}</h3>
      <p className="muted">
        {contract.nextAction.gpsStopEligible ? t('gpsStop.eligible') : t('gpsStop.notEligible')}
      </p>
      <form onSubmit={(e) => void request('immobilize', e)}>
        <label>
          {t('gpsStop.reason')}
          <textarea
            data-testid="gps-stop-reason"
            required
            minLength={3}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
        </label>
        <div className="row">
          <button type="submit" className="danger" data-testid="gps-stop-request" disabled={busy}>
            {t('gpsStop.request')}
          </button>
          <button
            type="button"
            className="secondary"
            data-testid="gps-stop-release"
            disabled={busy || reason.trim().length < 3}
            onClick={() => void request('release')}
          >
            {overdue ? t('gpsStop.emergencyRelease') : t('gpsStop.release')}
          </button>
        </div>
      </form>
      {error && (
        <p className="error" role="alert" data-testid="gps-stop-error">
          {error}
        </p>
      )}
      {last && <Evaluation evaluation={last.evaluation} />}
    </section>
  );
}
