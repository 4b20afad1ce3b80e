/**
 * What the dealers finance: real makes and model designations, grouped by machine type, with the
 * few numbers that shape how each type moves. Tracked excavators and rollers crawl between yard
 * and site, so their sites are closer; truck cranes and pump trucks drive on the road.
 */
export const MACHINE_TYPES = ['excavator', 'loader', 'crane', 'concrete pump', 'roller'] as const;
export type MachineType = (typeof MACHINE_TYPES)[number];

export interface ModelSpec {
  make: string;
  model: string;
  type: MachineType;
  /** Prefix of the product identification number (PIN / serial) as stamped by the maker. */
  pinPrefix: string;
}

export interface TypeBehaviour {
  /** Share of the fleet, roughly what a Chinese dealer finances. */
  weight: number;
  /** Driving between yard and job site, km/h (ignition on). */
  commuteKmh: readonly [number, number];
  /** Job site distance from the yard, km. */
  siteKm: readonly [number, number];
  /** How far the machine wanders while working, metres from the site centre. */
  siteRadiusM: number;
  /** Speed of moves inside the site, km/h. */
  siteKmh: readonly [number, number];
}

export const TYPE_BEHAVIOUR: Record<MachineType, TypeBehaviour> = {
  excavator: { weight: 50, commuteKmh: [10, 18], siteKm: [3, 18], siteRadiusM: 120, siteKmh: [1.5, 4.5] },
  loader: { weight: 20, commuteKmh: [22, 35], siteKm: [5, 30], siteRadiusM: 200, siteKmh: [5, 15] },
  crane: { weight: 12, commuteKmh: [35, 55], siteKm: [10, 45], siteRadiusM: 60, siteKmh: [2, 5] },
  'concrete pump': { weight: 10, commuteKmh: [35, 55], siteKm: [10, 45], siteRadiusM: 60, siteKmh: [2, 5] },
  roller: { weight: 8, commuteKmh: [8, 14], siteKm: [3, 15], siteRadiusM: 250, siteKmh: [3, 8] },
};

export const MODELS: readonly ModelSpec[] = [
  { make: 'Sany', model: 'SY215C', type: 'excavator', pinPrefix: 'SY215C' },
  { make: 'Sany', model: 'SY365H', type: 'excavator', pinPrefix: 'SY365H' },
  { make: 'Sany', model: 'SY75C', type: 'excavator', pinPrefix: 'SY075C' },
  { make: 'XCMG', model: 'XE215DA', type: 'excavator', pinPrefix: 'XUG215' },
  { make: 'XCMG', model: 'XE370DK', type: 'excavator', pinPrefix: 'XUG370' },
  { make: 'Zoomlion', model: 'ZE215E', type: 'excavator', pinPrefix: 'ZLE215' },
  { make: 'LiuGong', model: '922F', type: 'excavator', pinPrefix: 'LGCE922' },
  { make: 'Komatsu', model: 'PC200-8M0', type: 'excavator', pinPrefix: 'KMTPC200' },
  { make: 'CAT', model: '320 GC', type: 'excavator', pinPrefix: 'CAT0320G' },
  { make: 'CAT', model: '336D2', type: 'excavator', pinPrefix: 'CAT0336D' },
  { make: 'LiuGong', model: 'CLG856H', type: 'loader', pinPrefix: 'LGCL856' },
  { make: 'XCMG', model: 'LW500FV', type: 'loader', pinPrefix: 'XUGL500' },
  { make: 'Sany', model: 'SW956K', type: 'loader', pinPrefix: 'SYW956' },
  { make: 'Zoomlion', model: 'ZL50H', type: 'loader', pinPrefix: 'ZLL50H' },
  { make: 'CAT', model: '950 GC', type: 'loader', pinPrefix: 'CAT0950G' },
  { make: 'XCMG', model: 'XCT25', type: 'crane', pinPrefix: 'XUGT25' },
  { make: 'Sany', model: 'STC250', type: 'crane', pinPrefix: 'SYT250' },
  { make: 'Zoomlion', model: 'ZTC250V', type: 'crane', pinPrefix: 'ZLT250' },
  { make: 'Sany', model: 'SYM5352THB 49C', type: 'concrete pump', pinPrefix: 'SYB49C' },
  { make: 'Zoomlion', model: '49X-6RZ', type: 'concrete pump', pinPrefix: 'ZLB49X' },
  { make: 'XCMG', model: 'HB56V', type: 'concrete pump', pinPrefix: 'XUGB56' },
  { make: 'XCMG', model: 'XS263J', type: 'roller', pinPrefix: 'XUGS263' },
  { make: 'LiuGong', model: 'CLG6626E', type: 'roller', pinPrefix: 'LGCR626' },
  { make: 'Sany', model: 'SSR260C-8', type: 'roller', pinPrefix: 'SYR260' },
];

export function modelsOfType(type: MachineType): ModelSpec[] {
  return MODELS.filter((m) => m.type === type);
}
