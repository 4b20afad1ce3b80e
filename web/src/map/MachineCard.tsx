/** What the popup says about one machine. */
import type { MachineProperties } from '../../../shared/map.ts';
import { UNKNOWN } from '../common/format.ts';
import { stageColor } from '../common/stage.ts';
import { useFormat } from '../i18n/index.ts';

export function MachineCard({ machine }: { machine: MachineProperties }) {
  const f = useFormat();
  const { t } = f;
  const onOff = (v: boolean | null) => (v === null ? UNKNOWN : v ? t('machine.on') : t('machine.off'));
  const rows: [label: string, value: string, testId: string][] = [
    [t('machine.contract'), machine.contractNumber ?? UNKNOWN, 'contract'],
    [t('machine.customer'), machine.customer ?? UNKNOWN, 'customer'],
    [t('machine.lastSeen'), `${f.dateTime(machine.lastSeen)} (${f.ago(machine.lastSeen)})`, 'last-seen'],
    [t('machine.ignition'), onOff(machine.ign), 'ignition'],
    [
      t('machine.speed'),
      machine.spd === null ? UNKNOWN : t('machine.kmh', { value: f.number(machine.spd) }),
      'speed',
    ],
    [
      t('machine.hours'),
      machine.hrs === null ? UNKNOWN : t('machine.h', { value: f.number(machine.hrs, 1) }),
      'hours',
    ],
    [
      t('machine.relay'),
      machine.rly === null ? UNKNOWN : machine.rly ? t('machine.relayEngaged') : t('machine.relayReleased'),
      'relay',
    ],
  ];
  return (
    <div className="machine-card" data-testid="machine-card" data-device-id={machine.deviceId}>
      <div className="machine-card__title">{machine.deviceId}</div>
      <div className="machine-card__stage" data-testid="machine-stage">
        <span className="dot" style={{ background: stageColor(machine.stage) }} />
        {machine.stage === null ? '' : `${t('stage.short', { stage: machine.stage })} · `}
        {machine.stage === null ? t('stage.none') : t(`stage.${machine.stage}`)}
      </div>
      <dl>
        {rows.map(([label, value, testId]) => (
          <div key={testId} className={testId === 'relay' && machine.rly ? 'alert' : undefined}>
            <dt>{label}</dt>
            <dd data-testid={`machine-${testId}`}>{value}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}
