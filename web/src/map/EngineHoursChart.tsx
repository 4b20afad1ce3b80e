/** Daily engine hours as bars (SVG; one bar per day, days without reports as gaps at zero). */
import { useFormat } from '../i18n/index.ts';
import type { DayFigure } from './history.ts';

const W = 300;
const H = 80;

export function EngineHoursChart({ series }: { series: DayFigure[] }) {
  const f = useFormat();
  const max = Math.max(1, ...series.map((d) => d.engineHours));
  const total = series.reduce((sum, d) => sum + d.engineHours, 0);
  const bar = series.length > 0 ? W / series.length : W;
  return (
    <figure className="hours-chart" data-testid="engine-hours-chart" data-days={series.length}>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        width="100%"
        height={H}
        role="img"
        aria-label={f.t('panel.engineHours30')}
      >
        <line x1={0} x2={W} y1={H - 0.5} y2={H - 0.5} stroke="#c8ccd2" />
        {series.map((d, i) => {
          const h = (d.engineHours / max) * (H - 4);
          return (
            <rect
              key={d.day}
              x={i * bar + 1}
              y={H - h}
              width={Math.max(1, bar - 2)}
              height={h}
              fill="#f0802a"
            >
              <title>{`${f.date(d.day)}: ${f.number(d.engineHours, 1)} h`}</title>
            </rect>
          );
        })}
      </svg>
      <figcaption>{f.t('panel.engineHoursTotal', { value: f.number(total, 1) })}</figcaption>
    </figure>
  );
}
