import { describe, expect, it } from 'vitest';
import { datumOfStyle, displayPoint } from './datum.ts';

describe('map datum', () => {
  it('draws in GCJ-02 on Chinese providers only', () => {
    expect(datumOfStyle('https://webapi.amap.com/style.json')).toBe('gcj02');
    expect(datumOfStyle('https://tiles.autonavi.com/v1/style.json')).toBe('gcj02');
    expect(datumOfStyle('https://demotiles.maplibre.org/style.json')).toBe('wgs84');
    expect(datumOfStyle('https://evilamap.com/style.json')).toBe('wgs84');
    expect(datumOfStyle({ version: 8 })).toBe('wgs84');
  });

  it('converts positions in China for a GCJ-02 map and leaves WGS-84 alone', () => {
    expect(displayPoint([116.3913, 39.9075], 'wgs84')).toEqual([116.3913, 39.9075]);
    const [lon, lat] = displayPoint([116.3913, 39.9075], 'gcj02');
    expect(lon).not.toBe(116.3913);
    expect(Math.abs(lat - 39.9075)).toBeLessThan(0.01);
  });
});
