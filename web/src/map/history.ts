/** The 30-day engine-hours chart's series: every day of the range, days without reports as 0. Pure. */
export interface DayFigure {
  day: string;
  engineHours: number;
  reports: number;
}

export function dailySeries(from: string, to: string, days: readonly DayFigure[]): DayFigure[] {
  const byDay = new Map(days.map((d) => [d.day, d]));
  const out: DayFigure[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end && out.length < 400; t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push(byDay.get(day) ?? { day, engineHours: 0, reports: 0 });
  }
  return out;
}
