import { describe, expect, it } from 'vitest';
import type { MachineCollection } from '../../../shared/map.ts';
import { machine } from '../../../test/support/machine-features.ts';
import { ALL_PORTFOLIOS, filterPortfolio, passesPortfolio, portfolioOptions } from './portfolio.ts';

const T = '2026-03-01T08:00:00.000Z';
const of = (dealerId: string, dealer: string, province: string) => ({ dealerId, dealer, province });
const XZ = of('DL-32-01', '徐州恒力工程机械有限公司', '江苏省');
const SZ = of('DL-32-02', '苏州宏达工程机械有限公司', '江苏省');
const CD = of('DL-51-01', '成都远大工程机械有限公司', '四川省');

const fleet: MachineCollection = {
  type: 'FeatureCollection',
  features: [
    machine('a', T, XZ),
    machine('b', T, SZ),
    machine('c', T, XZ),
    machine('d', T, CD),
    // No contract, or a contract without a dealer.
    machine('e', T),
  ],
};
const ids = (c: MachineCollection) => c.features.map((f) => f.properties.deviceId);

describe('the dealer and region filters', () => {
  it('keep everything, machines without a dealer too, when nothing is chosen', () => {
    expect(filterPortfolio(fleet, ALL_PORTFOLIOS)).toBe(fleet);
    expect(passesPortfolio({ dealerId: null, province: null }, ALL_PORTFOLIOS)).toBe(true);
  });

  it("keep only the chosen dealer's machines", () => {
    expect(ids(filterPortfolio(fleet, { dealerId: 'DL-32-01', province: null }))).toEqual(['a', 'c']);
    expect(ids(filterPortfolio(fleet, { dealerId: 'DL-99-99', province: null }))).toEqual([]);
  });

  it('keep only the machines of dealers in the chosen province, and both filters together', () => {
    expect(ids(filterPortfolio(fleet, { dealerId: null, province: '江苏省' }))).toEqual(['a', 'b', 'c']);
    expect(ids(filterPortfolio(fleet, { dealerId: 'DL-32-02', province: '江苏省' }))).toEqual(['b']);
    // A dealer of another province than the one chosen: nothing matches both.
    expect(ids(filterPortfolio(fleet, { dealerId: 'DL-51-01', province: '江苏省' }))).toEqual([]);
  });

  it('leave the fleet it filters untouched', () => {
    filterPortfolio(fleet, { dealerId: 'DL-32-01', province: null });
    expect(fleet.features).toHaveLength(5);
  });
});

describe('the choices offered', () => {
  it('are the regions and dealers of the loaded fleet with their counts, in pinyin order', () => {
    const o = portfolioOptions(fleet.features, ALL_PORTFOLIOS, 'zh-CN');
    expect(o.regions).toEqual([
      { province: '江苏省', count: 3 },
      { province: '四川省', count: 1 },
    ]);
    // Chengdu, Suzhou, Xuzhou.
    expect(o.dealers.map((d) => [d.id, d.count])).toEqual([
      ['DL-51-01', 1],
      ['DL-32-02', 1],
      ['DL-32-01', 2],
    ]);
    expect(o.dealers[2]!.name).toBe('徐州恒力工程机械有限公司');
  });

  it('list only the dealers of the chosen region, all regions still', () => {
    const o = portfolioOptions(fleet.features, { dealerId: null, province: '四川省' });
    expect(o.dealers.map((d) => d.id)).toEqual(['DL-51-01']);
    expect(o.regions).toHaveLength(2);
  });

  it('keep a choice the fleet no longer holds, with no machines', () => {
    const o = portfolioOptions([machine('a', T, XZ)], { dealerId: 'DL-32-02', province: '四川省' });
    expect(o.regions).toContainEqual({ province: '四川省', count: 0 });
    expect(o.dealers).toEqual([{ id: 'DL-32-02', name: 'DL-32-02', count: 0 }]);
  });

  it('name a dealer without a name by its id', () => {
    const o = portfolioOptions(
      [machine('a', T, { dealerId: 'DL-1', dealer: null, province: null })],
      ALL_PORTFOLIOS,
    );
    expect(o.dealers).toEqual([{ id: 'DL-1', name: 'DL-1', count: 1 }]);
    expect(o.regions).toEqual([]);
  });
});
