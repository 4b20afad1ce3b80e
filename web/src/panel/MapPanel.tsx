/**
 * The floating panel: how many machines are shown, the minimum-stage filter (which doubles as the
 * colour legend) and the live connection state.
 *
 * Test hooks: `data-machine-count` appears once the map source holds the first REST snapshot for
 * the current filter and then follows what the source holds; `data-connection` is the socket state.
 */
import type { Stage } from '../../../shared/map.ts';
import { minStageLabel, STAGE_COLORS, STAGES, stageLabel } from '../common/stage.ts';
import type { ConnectionState } from '../live/controller.ts';

export interface MapPanelProps {
  /** Machines in the map source, or null until the first snapshot is drawn. */
  shownCount: number | null;
  minStage: Stage;
  onMinStageChange: (stage: Stage) => void;
  connection: ConnectionState;
}

const CONNECTION_LABEL: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
};

export function MapPanel({ shownCount, minStage, onMinStageChange, connection }: MapPanelProps) {
  return (
    <section
      className="map-panel"
      data-testid="map-panel"
      data-machine-count={shownCount ?? undefined}
      data-connection={connection}
      aria-label="Recovery map"
    >
      <header className="map-panel__header">
        <h1>Recovery map</h1>
        <output
          className={`connection connection--${connection}`}
          data-testid="connection-status"
          data-state={connection}
        >
          <span className="dot" aria-hidden="true" />
          {CONNECTION_LABEL[connection]}
        </output>
      </header>
      <p className="map-panel__count" data-testid="machine-count">
        {shownCount === null ? 'Loading machines…' : `${shownCount.toLocaleString()} machines shown`}
      </p>
      <fieldset className="stage-filter" data-testid="stage-filter">
        <legend>Minimum stage</legend>
        <div className="stage-filter__options">
          {STAGES.map((stage) => (
            <button
              key={stage}
              type="button"
              className="stage-filter__option"
              aria-pressed={stage === minStage}
              title={stage === 0 ? 'All machines' : `${stageLabel(stage)} or worse`}
              data-testid={`stage-filter-${stage}`}
              onClick={() => onMinStageChange(stage)}
            >
              <span className="dot" style={{ background: STAGE_COLORS[stage] }} aria-hidden="true" />
              {minStageLabel(stage)}
            </button>
          ))}
        </div>
      </fieldset>
    </section>
  );
}
