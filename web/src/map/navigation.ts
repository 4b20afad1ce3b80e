/**
 * "Navigate there" links. Chinese map apps (Amap, and most others there) expect GCJ-02
 * coordinates; OpenStreetMap takes WGS-84 as stored. Converted for display only (gcoord).
 */
import * as gcoordModule from 'gcoord';

interface Gcoord {
  transform(input: [number, number], from: string, to: string): [number, number];
  WGS84: string;
  GCJ02: string;
}
// gcoord is CommonJS with a default export in its types: Node hands the object over as the
// namespace's `default`, a bundler may hand over the object itself (as shared/geo.ts does).
const loaded = gcoordModule as unknown as Gcoord & { default?: Gcoord };
const gcoord: Gcoord = loaded.default ?? loaded;

export type NavDatum = 'gcj02' | 'wgs84';

export function toGcj02(lon: number, lat: number): [number, number] {
  return gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
}

/** A link that opens the place in a map app: Amap's URI API, or OpenStreetMap directions. */
export function navigationLink(lon: number, lat: number, datum: NavDatum, name: string): string {
  if (datum === 'gcj02') {
    const [x, y] = toGcj02(lon, lat);
    const q = new URLSearchParams({
      position: `${x.toFixed(6)},${y.toFixed(6)}`,
      name,
      coordinate: 'gaode',
      callnative: '1',
    });
    return `https://uri.amap.com/marker?${q}`;
  }
  return `https://www.openstreetmap.org/directions?to=${lat.toFixed(6)}%2C${lon.toFixed(6)}#map=15/${lat.toFixed(6)}/${lon.toFixed(6)}`;
}
