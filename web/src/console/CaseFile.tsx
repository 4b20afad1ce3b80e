/**
 * A contract's case file: the figures, the schedule with paid and overdue instalments, payments,
 * the activity timeline with a form to add a record, the machine (on the map), the commands with
 * their live timelines and, for risk managers, GPS stop.
 */
import { type FormEvent, useState } from 'react';
import type { CommandSummary } from '../../../shared/api/commands.ts';
import type { Activity, ContractView, Revealed } from '../../../shared/api/contracts.ts';
import { ACTIVITY_KINDS, CHANNELS } from '../../../shared/collections.ts';
import { postJson } from '../api.ts';
import type { Abilities } from '../common/abilities.ts';
import { navigate } from '../common/route.ts';
import { stageColor } from '../common/stage.ts';
import { useApi } from '../common/useApi.ts';
import { type Formatters, useFormat } from '../i18n/index.ts';
import { useNotice, useResync } from '../live/events.ts';
import { CommandTimeline } from './CommandTimeline.tsx';
import { GpsStop } from './GpsStop.tsx';

export function CaseFile({
  contractId,
  abilities,
  username,
}: {
  contractId: string;
  abilities: Abilities;
  username: string;
}) {
  const f = useFormat();
  const { t } = f;
  const id = encodeURIComponent(contractId);
  const contract = useApi<ContractView>(`/api/contracts/${id}`);
  const activities = useApi<Activity[]>(`/api/contracts/${id}/activities`);
  const commands = useApi<CommandSummary[]>(`/api/commands?contractId=${id}`);
  useNotice('commands:update', (u) => {
    if (u.some((x) => x.contractId === contractId)) commands.reload();
  });
  useNotice('stages:update', (u) => {
    if (u.some((x) => x.contractId === contractId)) contract.reload();
  });
  useResync(() => {
    contract.reload();
    commands.reload();
  });

  const c = contract.data;
  if (!c)
    return <p>{contract.error ? t('common.error', { message: contract.error }) : t('common.loading')}</p>;
  const device = c.installations.find((i) => i.removedAt === null)?.deviceId ?? null;
  return (
    <div className="case-file" data-testid="case-file" data-contract-id={c.id}>
      <header className="page__header">
        <h1>{t('caseFile.title', { number: c.number })}</h1>
        <span
          className="stage-badge"
          data-testid="case-stage"
          style={{ background: stageColor(c.overdue.stage) }}
        >
          {t('stage.short', { stage: c.overdue.stage })}
        </span>
      </header>
      <div className="case-file__grid">
        <section className="case-file__column">
          <dl className="figures">
            <Row
              label={t('machine.customer')}
              value={`${c.customer.name}${c.customer.phone ? ` · ${c.customer.phone}` : ''}`}
            />
            <Row
              label={t('panel.guarantor')}
              value={
                c.guarantors.map((g) => `${g.name}${g.phone ? ` · ${g.phone}` : ''}`).join('; ') ||
                t('common.none')
              }
            />
            <Row
              label={t('caseFile.nationalId')}
              value={c.customer.nationalId ?? t('common.none')}
              testId="case-national-id"
            />
            <Row
              label={t('caseFile.machine')}
              value={`${c.machine.make} ${c.machine.model} · ${c.machine.serial}`}
            />
            <Row
              label={t('panel.overdueAmount')}
              value={f.money(c.overdue.overdueAmount)}
              testId="case-overdue"
            />
            <Row label={t('panel.daysPastDue')} value={f.number(c.overdue.daysPastDue)} />
            <Row label={t('caseFile.penalty')} value={f.money(c.overdue.penalty)} />
            <Row label={t('caseFile.outstanding')} value={f.money(c.overdue.totalOutstanding)} />
            <Row label={t('caseFile.paid')} value={f.money(c.overdue.totalPaid)} />
            <Row
              label={t('panel.nextAction')}
              value={f.nextAction(c.nextAction.code, c.nextAction.text)}
              testId="case-next-action"
            />
          </dl>
          {abilities.revealPersonalData && (c.masked.nationalId || c.masked.phone) && (
            <Reveal contractId={c.id} />
          )}
          {device && (
            <button
              type="button"
              className="link"
              onClick={() => navigate({ page: 'map', deviceId: device })}
            >
              {t('common.showOnMap')}
            </button>
          )}
          <h2>{t('caseFile.commands')}</h2>
          {abilities.requestCommands && <GpsStop contract={c} onRequested={() => commands.reload()} />}
          <div data-testid="case-commands">
            {(commands.data ?? []).length === 0 && <p className="muted">{t('caseFile.noCommands')}</p>}
            {(commands.data ?? []).slice(0, 5).map((cmd) => (
              <CommandTimeline
                key={cmd.id}
                commandId={cmd.id}
                username={username}
                mayDecide={abilities.approveCommands}
                onChanged={commands.reload}
              />
            ))}
          </div>
        </section>
        <section className="case-file__column">
          <h2>{t('caseFile.schedule')}</h2>
          <Schedule contract={c} f={f} />
          <h2>{t('caseFile.payments')}</h2>
          {c.payments.length === 0 ? (
            <p className="muted">{t('caseFile.noPayments')}</p>
          ) : (
            <table>
              <tbody>
                {c.payments.map((p) => (
                  <tr
                    key={p.reference}
                    data-testid="payment"
                    data-reference={p.reference}
                    className={p.reversedAt ? 'superseded' : undefined}
                  >
                    <td>{f.date(p.date)}</td>
                    <td className="num">{f.money(p.amount)}</td>
                    <td className="muted">{p.reference}</td>
                    <td className="muted" data-testid="payment-people">
                      {t('caseFile.bookedBy', {
                        who: p.bookedBy,
                        how: t(`caseFile.source.${p.source}`, p.source),
                      })}
                      {p.awaitingConfirmation && <> · {t('caseFile.awaitingConfirmation')}</>}
                      {p.confirmedBy && <> · {t('caseFile.confirmedBy', { who: p.confirmedBy })}</>}
                      {p.reversedBy && <> · {t('caseFile.reversedBy', { who: p.reversedBy })}</>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section className="case-file__column">
          <h2>{t('caseFile.timeline')}</h2>
          {abilities.recordActivity && (
            <AddActivity
              contractId={c.id}
              onAdded={() => {
                activities.reload();
                contract.reload();
              }}
            />
          )}
          <ol className="activities" data-testid="activities">
            {(activities.data ?? []).length === 0 && <li className="muted">{t('caseFile.noActivities')}</li>}
            {[...(activities.data ?? [])].reverse().map((a) => (
              <li key={a.id} className={a.superseded ? 'superseded' : undefined} data-kind={a.kind}>
                <strong>{a.kind}</strong>
                {a.channel && <span className="muted"> · {a.channel}</span>}
                <span className="muted">
                  {' '}
                  · {f.dateTime(a.occurredAt)} · {a.actor}
                </span>
                {a.outcome && <div>{a.outcome}</div>}
                {a.body && <div className="muted">{a.body}</div>}
              </li>
            ))}
          </ol>
        </section>
      </div>
    </div>
  );
}

function Row({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}

function Schedule({ contract: c, f }: { contract: ContractView; f: Formatters }) {
  const { t } = f;
  return (
    <table className="schedule" data-testid="schedule">
      <thead>
        <tr>
          <th>{t('caseFile.seq')}</th>
          <th>{t('caseFile.due')}</th>
          <th className="num">{t('caseFile.amount')}</th>
          <th className="num">{t('caseFile.unpaid')}</th>
          <th>{t('caseFile.status')}</th>
        </tr>
      </thead>
      <tbody>
        {c.instalments.map((i) => (
          <tr key={i.seq} className={`instalment--${i.status}`} data-status={i.status}>
            <td>{i.seq}</td>
            <td>{f.date(i.dueDate)}</td>
            <td className="num">{f.money(i.amountDue)}</td>
            <td className="num">{f.money(i.unpaid)}</td>
            <td>{t(`caseFile.status_${i.status}`)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Showing the masked personal data in full: only with a reason, which goes to the audit chain. */
function Reveal({ contractId }: { contractId: string }) {
  const { t } = useFormat();
  const [reason, setReason] = useState('');
  const [shown, setShown] = useState<Revealed | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setStatus(null);
    try {
      setShown(
        await postJson<Revealed>(`/api/contracts/${encodeURIComponent(contractId)}/reveal`, {
          reason: reason.trim(),
        }),
      );
    } catch (err) {
      setStatus((err as Error).message);
    }
  };
  if (shown) {
    return (
      <dl className="figures" data-testid="revealed">
        <Row label={t('caseFile.nationalId')} value={shown.customer.nationalId ?? t('common.none')} />
        <Row label={t('panel.phone')} value={shown.customer.phone ?? t('common.none')} />
        {shown.guarantors.map((g) => (
          <Row
            key={g.name}
            label={t('panel.guarantor')}
            value={`${g.name} · ${g.phone ?? t('common.none')}`}
          />
        ))}
      </dl>
    );
  }
  return (
    <form className="reveal" data-testid="reveal" onSubmit={(e) => void submit(e)}>
      <label>
        {t('caseFile.revealReason')}
        <input value={reason} minLength={10} required onChange={(e) => setReason(e.target.value)} />
      </label>
      <button type="submit">{t('caseFile.reveal')}</button>
      {status && <output>{status}</output>}
    </form>
  );
}

function AddActivity({ contractId, onAdded }: { contractId: string; onAdded: () => void }) {
  const { t } = useFormat();
  const [kind, setKind] = useState<(typeof ACTIVITY_KINDS)[number]>('call');
  const [channel, setChannel] = useState<(typeof CHANNELS)[number]>('phone');
  const [outcome, setOutcome] = useState('');
  const [body, setBody] = useState('');
  const [status, setStatus] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setStatus(null);
    try {
      await postJson(`/api/contracts/${encodeURIComponent(contractId)}/activities`, {
        kind,
        channel,
        outcome: outcome.trim() || null,
        body,
      });
      setOutcome('');
      setBody('');
      setStatus(t('caseFile.saved'));
      onAdded();
    } catch (err) {
      setStatus((err as Error).message);
    }
  };
  return (
    <form className="add-activity" data-testid="add-activity" onSubmit={(e) => void submit(e)}>
      <div className="row">
        <label>
          {t('caseFile.kind')}
          <select value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
            {ACTIVITY_KINDS.filter(
              (k) => !['promise_to_pay', 'dispute_raised', 'dispute_resolved'].includes(k),
            ).map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          {t('caseFile.channel')}
          <select value={channel} onChange={(e) => setChannel(e.target.value as typeof channel)}>
            {CHANNELS.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
      </div>
      <label>
        {t('caseFile.outcome')}
        <input value={outcome} onChange={(e) => setOutcome(e.target.value)} />
      </label>
      <label>
        {t('caseFile.body')}
        <textarea value={body} onChange={(e) => setBody(e.target.value)} />
      </label>
      <button type="submit">{t('caseFile.addActivity')}</button>
      {status && <output>{status}</output>}
    </form>
  );
}
