/**
 * The dealer and region filters: which dealer's portfolio, in which province, the map shows. Pure,
 * applied in the browser to the fleet already loaded (a change redraws, it does not reload), and
 * the choices offered are built from that fleet. The region is the dealer's province: the portfolio
 * a regional recovery team answers for, wherever its machines are now (that is the map itself).
 */
import type { MachineCollection, MachineFeature, MachineProperties } from '../../../shared/map.ts';

export interface PortfolioFilter {
  /** A dealer's id, or null for every dealer (and machines without one). */
  dealerId: string | null;
  /** A dealer province, or null for every region (and machines without one). */
  province: string | null;
}

export const ALL_PORTFOLIOS: PortfolioFilter = { dealerId: null, province: null };

export function passesPortfolio(
  p: Pick<MachineProperties, 'dealerId' | 'province'>,
  filter: PortfolioFilter,
): boolean {
  return (
    (filter.dealerId === null || p.dealerId === filter.dealerId) &&
    (filter.province === null || p.province === filter.province)
  );
}

/** The machines of the chosen portfolio; the same collection when nothing is chosen. */
export function filterPortfolio(collection: MachineCollection, filter: PortfolioFilter): MachineCollection {
  if (filter.dealerId === null && filter.province === null) return collection;
  return {
    ...collection,
    features: collection.features.filter((f) => passesPortfolio(f.properties, filter)),
  };
}

export interface DealerOption {
  id: string;
  name: string;
  count: number;
}

export interface RegionOption {
  province: string;
  count: number;
}

export interface PortfolioOptions {
  regions: RegionOption[];
  dealers: DealerOption[];
}

/**
 * The regions of the fleet, and its dealers within the chosen region; each with its machine count,
 * sorted by name in `locale`. A chosen dealer or region that the fleet no longer holds (a raised
 * stage filter left none of its machines) stays offered with a count of 0, so the selector keeps
 * showing what filters the map.
 */
export function portfolioOptions(
  features: readonly MachineFeature[],
  filter: PortfolioFilter,
  locale = 'zh-CN',
): PortfolioOptions {
  const regions = new Map<string, RegionOption>();
  const dealers = new Map<string, DealerOption>();
  for (const { properties: p } of features) {
    if (p.province !== null) {
      const r = regions.get(p.province) ?? { province: p.province, count: 0 };
      r.count += 1;
      regions.set(p.province, r);
    }
    if (p.dealerId !== null && (filter.province === null || p.province === filter.province)) {
      const d = dealers.get(p.dealerId) ?? { id: p.dealerId, name: p.dealer ?? p.dealerId, count: 0 };
      d.count += 1;
      dealers.set(p.dealerId, d);
    }
  }
  if (filter.province !== null && !regions.has(filter.province)) {
    regions.set(filter.province, { province: filter.province, count: 0 });
  }
  if (filter.dealerId !== null && !dealers.has(filter.dealerId)) {
    dealers.set(filter.dealerId, { id: filter.dealerId, name: filter.dealerId, count: 0 });
  }
  const collator = new Intl.Collator(locale);
  return {
    regions: [...regions.values()].sort((a, b) => collator.compare(a.province, b.province)),
    dealers: [...dealers.values()].sort(
      (a, b) => collator.compare(a.name, b.name) || collator.compare(a.id, b.id),
    ),
  };
}
