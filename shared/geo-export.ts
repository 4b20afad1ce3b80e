/**
 * Trails and sites as files a recovery team opens elsewhere: GeoJSON (RFC 7946), GPX 1.1 (handheld
 * GPS units, navigation apps) and KML (Google Earth, many Chinese map apps import it). KML comes
 * from @placemarkio/tokml, GPX is written here: it is four elements, and no maintained GPX writer
 * is on the registry (togpx is unmaintained since 2016).
 */
import { toKML } from '@placemarkio/tokml';
import type { Feature, FeatureCollection, Geometry } from 'geojson';
import type { LatLon } from './geo.ts';

export const EXPORT_FORMATS = ['geojson', 'gpx', 'kml'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  geojson: 'application/geo+json',
  gpx: 'application/gpx+xml',
  kml: 'application/vnd.google-earth.kml+xml',
};

export interface TrackPoint extends LatLon {
  ts: number;
  spd: number | null;
  ign: boolean | null;
}

export interface ExportPlace extends LatLon {
  name: string;
  description: string;
  properties: Record<string, unknown>;
}

/** The trail as one LineString (times per vertex, as togeojson reads them) plus its end points. */
export function trackGeoJson(name: string, points: readonly TrackPoint[]): FeatureCollection {
  const features: Feature[] = [];
  if (points.length >= 2) {
    features.push({
      type: 'Feature',
      properties: {
        name,
        from: new Date(points[0]!.ts).toISOString(),
        to: new Date(points[points.length - 1]!.ts).toISOString(),
        fixes: points.length,
        coordinateProperties: { times: points.map((p) => new Date(p.ts).toISOString()) },
      },
      geometry: { type: 'LineString', coordinates: points.map((p) => [p.lon, p.lat]) },
    });
  }
  const ends: [string, TrackPoint | undefined][] = [
    ['start', points[0]],
    ['end', points[points.length - 1]],
  ];
  for (const [role, p] of ends) {
    if (!p || (role === 'end' && points.length < 2)) continue;
    features.push({
      type: 'Feature',
      properties: {
        name: `${name} ${role}`,
        role,
        time: new Date(p.ts).toISOString(),
        spd: p.spd,
        ign: p.ign,
      },
      geometry: { type: 'Point', coordinates: [p.lon, p.lat] },
    });
  }
  return { type: 'FeatureCollection', features };
}

export function placesGeoJson(places: readonly ExportPlace[]): FeatureCollection {
  return {
    type: 'FeatureCollection',
    features: places.map((p) => ({
      type: 'Feature',
      properties: { name: p.name, description: p.description, ...p.properties },
      geometry: { type: 'Point', coordinates: [p.lon, p.lat] },
    })),
  };
}

const xml = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
const GPX_HEAD =
  '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="recovery-telematics" xmlns="http://www.topografix.com/GPX/1/1">';

export function trackGpx(name: string, points: readonly TrackPoint[]): string {
  const pts = points
    .map((p) => `<trkpt lat="${p.lat}" lon="${p.lon}"><time>${new Date(p.ts).toISOString()}</time></trkpt>`)
    .join('\n');
  return `${GPX_HEAD}\n<trk><name>${xml(name)}</name><trkseg>\n${pts}\n</trkseg></trk>\n</gpx>\n`;
}

export function placesGpx(places: readonly ExportPlace[]): string {
  const wpts = places
    .map(
      (p) =>
        `<wpt lat="${p.lat}" lon="${p.lon}"><name>${xml(p.name)}</name><desc>${xml(p.description)}</desc></wpt>`,
    )
    .join('\n');
  return `${GPX_HEAD}\n${wpts}\n</gpx>\n`;
}

/** KML from the same GeoJSON (tokml writes Placemarks, names and ExtendedData from properties). */
export function toKml(collection: FeatureCollection): string {
  // KML has no place for per-vertex arrays in ExtendedData: drop the times (GPX keeps them).
  const flat: FeatureCollection<Geometry | null> = {
    type: 'FeatureCollection',
    features: collection.features.map((f) => {
      const { coordinateProperties: _times, ...properties } = f.properties ?? {};
      return { ...f, properties };
    }),
  };
  return toKML(flat);
}
