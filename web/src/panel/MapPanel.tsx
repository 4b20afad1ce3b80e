/**
 * The floating panel: how many machines are shown, the minimum-stage filter (which doubles as the
 * colour legend), the last-seen, region and dealer filters and the live connection state.
 *
 * Test hooks: `data-machine-count` appears once the map source holds the first REST snapshot for
 * the current filter and then follows what the source holds; `data-connection` is the socket state.
 */
import type { Stage } from '../../../shared/map.ts';
import { STAGE_COLORS, STAGES } from '../common/stage.ts';
import { useFormat } from '../i18n/index.ts';
import type { ConnectionState } from '../live/controller.ts';
import { FRESHNESS, type Freshness, shouldCluster } from '../map/fleetView.ts';
import type { PortfolioFilter, PortfolioOptions } from '../map/portfolio.ts';

export interface MapPanelProps {
  /** Machines in the map source, or null until the first snapshot is drawn. */
  shownCount: number | null;
  minStage: Stage;
  onMinStageChange: (stage: Stage) => void;
  freshness: Freshness;
  onFreshnessChange: (f: Freshness) => void;
  /** The chosen region (dealer province) and dealer, and the choices the loaded fleet offers. */
  portfolio: PortfolioFilter;
  portfolioOptions: PortfolioOptions;
  onRegionChange: (province: string | null) => void;
  onDealerChange: (dealerId: string | null) => void;
  connection: ConnectionState;
}

export function MapPanel(p: MapPanelProps) {
  const { t } = useFormat();
  const { regions, dealers } = p.portfolioOptions;
  // Dealer names are long: the closed selector may cut one short, its tooltip does not.
  const chosenDealer = dealers.find((d) => d.id === p.portfolio.dealerId)?.name;
  const label = (stage: Stage) => (stage === 0 ? t('map.all') : stage === 3 ? '3' : `≥${stage}`);
  return (
    <section
      className="map-panel"
      data-testid="map-panel"
      data-machine-count={p.shownCount ?? undefined}
      data-connection={p.connection}
      aria-label={t('map.title')}
    >
      <header className="map-panel__header">
        <h1>{t('map.title')}</h1>
        <output
          className={`connection connection--${p.connection}`}
          data-testid="connection-status"
          data-state={p.connection}
        >
          <span className="dot" aria-hidden="true" />
          {t(`map.${p.connection}`)}
        </output>
      </header>
      <p className="map-panel__count" data-testid="machine-count">
        {p.shownCount === null ? t('map.loadingMachines') : t('map.shown', { count: p.shownCount })}
      </p>
      {p.shownCount !== null && shouldCluster(p.shownCount) && (
        <p className="map-panel__hint">{t('map.clustered')}</p>
      )}
      <fieldset className="stage-filter" data-testid="stage-filter">
        <legend>{t('map.minStage')}</legend>
        <div className="stage-filter__options">
          {STAGES.map((stage) => (
            <button
              key={stage}
              type="button"
              className="stage-filter__option"
              aria-pressed={stage === p.minStage}
              title={stage === 0 ? t('map.allMachines') : t('map.orWorse', { label: t(`stage.${stage}`) })}
              data-testid={`stage-filter-${stage}`}
              onClick={() => p.onMinStageChange(stage)}
            >
              <span className="dot" style={{ background: STAGE_COLORS[stage] }} aria-hidden="true" />
              {label(stage)}
            </button>
          ))}
        </div>
      </fieldset>
      <label className="map-panel__select">
        {t('map.freshness')}
        <select
          data-testid="freshness-filter"
          value={p.freshness}
          onChange={(e) => p.onFreshnessChange(e.target.value as Freshness)}
        >
          {FRESHNESS.map((f) => (
            <option key={f} value={f}>
              {t(`map.fresh_${f}`)}
            </option>
          ))}
        </select>
      </label>
      <label className="map-panel__select">
        {t('map.region')}
        <select
          data-testid="region-filter"
          value={p.portfolio.province ?? ''}
          onChange={(e) => p.onRegionChange(e.target.value === '' ? null : e.target.value)}
        >
          <option value="">{t('map.allRegions')}</option>
          {regions.map((r) => (
            <option key={r.province} value={r.province}>
              {t('map.optionCount', { name: r.province, count: r.count })}
            </option>
          ))}
        </select>
      </label>
      <label className="map-panel__select">
        {t('map.dealer')}
        <select
          data-testid="dealer-filter"
          title={chosenDealer}
          value={p.portfolio.dealerId ?? ''}
          onChange={(e) => p.onDealerChange(e.target.value === '' ? null : e.target.value)}
        >
          <option value="">{t('map.allDealers')}</option>
          {dealers.map((d) => (
            <option key={d.id} value={d.id}>
              {t('map.optionCount', { name: d.name, count: d.count })}
            </option>
          ))}
        </select>
      </label>
      <p className="map-panel__legend">
        {t('map.legendRelay')} · {t('map.legendFaded')}
      </p>
    </section>
  );
}
