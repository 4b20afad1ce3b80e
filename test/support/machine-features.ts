/** Builders of map features for unit tests of the web app's live fleet (test-only, outside web/src). */
import type { MachineFeature, MachineProperties } from '../../shared/map.ts';

export function machine(
  deviceId: string,
  lastSeen: string,
  props: Partial<MachineProperties> = {},
  coordinates: [number, number] = [116.4, 39.9],
): MachineFeature {
  return {
    type: 'Feature',
    id: deviceId,
    geometry: { type: 'Point', coordinates },
    properties: {
      deviceId,
      machineId: null,
      contractId: null,
      contractNumber: null,
      customer: null,
      dealerId: null,
      dealer: null,
      province: null,
      stage: 0,
      lastSeen,
      ign: null,
      spd: null,
      hrs: null,
      rly: null,
      ...props,
    },
  };
}
