/**
 * The datum the basemap is drawn in. The offline basemap and most tile services are WGS-84; tile
 * services of Chinese providers (Amap/AutoNavi, Tencent) are GCJ-02, so positions are converted
 * for drawing only. Recognised by the style URL's host, as no style document says its datum.
 */
import { toGcj02 } from './navigation.ts';

export type MapDatum = 'wgs84' | 'gcj02';

const GCJ02_HOSTS = [/(^|\.)amap\.com$/, /(^|\.)autonavi\.com$/, /(^|\.)gaode\.com$/, /(^|\.)map\.qq\.com$/];

export function datumOfStyle(style: unknown): MapDatum {
  if (typeof style !== 'string') return 'wgs84';
  try {
    const host = new URL(style, 'http://localhost').hostname;
    return GCJ02_HOSTS.some((h) => h.test(host)) ? 'gcj02' : 'wgs84';
  } catch {
    return 'wgs84';
  }
}

/** [lon, lat] as drawn on a map in `datum`. */
export function displayPoint(lonLat: readonly number[], datum: MapDatum): [number, number] {
  const lon = lonLat[0]!;
  const lat = lonLat[1]!;
  return datum === 'gcj02' ? toGcj02(lon, lat) : [lon, lat];
}
