import { describe, expect, it } from 'vitest';
import { navigationLink, toGcj02 } from './navigation.ts';

describe('navigation links', () => {
  it('shifts a position in China to GCJ-02 by a few hundred metres', () => {
    // Tiananmen, WGS-84: GCJ-02 lies about 0.006° east and 0.001° north.
    const [lon, lat] = toGcj02(116.3913, 39.9075);
    expect(lon - 116.3913).toBeGreaterThan(0.005);
    expect(lon - 116.3913).toBeLessThan(0.007);
    expect(lat - 39.9075).toBeGreaterThan(0.0005);
    expect(lat - 39.9075).toBeLessThan(0.002);
  });

  it('gives Amap the converted position and OpenStreetMap the stored one', () => {
    const amap = new URL(navigationLink(116.3913, 39.9075, 'gcj02', 'M-1'));
    expect(amap.host).toBe('uri.amap.com');
    const [x, y] = amap.searchParams.get('position')!.split(',').map(Number);
    const [gx, gy] = toGcj02(116.3913, 39.9075);
    expect(x).toBeCloseTo(gx, 5);
    expect(y).toBeCloseTo(gy, 5);
    expect(amap.searchParams.get('name')).toBe('M-1');
    expect(navigationLink(116.3913, 39.9075, 'wgs84', 'M-1')).toContain('to=39.907500%2C116.391300');
  });
});
