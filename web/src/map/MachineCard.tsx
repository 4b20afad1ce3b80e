/** What the popup says about one machine. */
import type { MachineProperties } from '../../../shared/map.ts';
import {
  formatAgo,
  formatDateTime,
  formatHours,
  formatOnOff,
  formatRelay,
  formatSpeed,
  UNKNOWN,
} from '../common/format.ts';
import { stageColor, stageLabel } from '../common/stage.ts';

export function MachineCard({ machine }: { machine: MachineProperties }) {
  const rows: [label: string, value: string, testId: string][] = [
    ['Contract', machine.contractNumber ?? UNKNOWN, 'contract'],
    ['Customer', machine.customer ?? UNKNOWN, 'customer'],
    ['Last seen', `${formatDateTime(machine.lastSeen)} (${formatAgo(machine.lastSeen)})`, 'last-seen'],
    ['Ignition', formatOnOff(machine.ign), 'ignition'],
    ['Speed', formatSpeed(machine.spd), 'speed'],
    ['Engine hours', formatHours(machine.hrs), 'hours'],
    ['Relay', formatRelay(machine.rly), 'relay'],
  ];
  return (
    <div className="machine-card" data-testid="machine-card" data-device-id={machine.deviceId}>
      <div className="machine-card__title">{machine.deviceId}</div>
      <div className="machine-card__stage" data-testid="machine-stage">
        <span className="dot" style={{ background: stageColor(machine.stage) }} />
        {machine.stage === null ? '' : `Stage ${machine.stage} · `}
        {stageLabel(machine.stage)}
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
