/**
 * What a machine does in the GPS-stop attacks (the property test and the fault campaign), and what
 * that looks like: parked, working on site, driving, or carried on a trailer. An engaged starter
 * interrupt keeps a working or driving machine still with its engine off; a trailer moves it anyway.
 */
export type Mode = 'parked' | 'working' | 'driving' | 'trailer';

export function machineIn(mode: Mode, engaged: boolean): { ign: boolean; spd: number } {
  switch (mode) {
    case 'parked':
      return { ign: false, spd: 0 };
    case 'working':
      return engaged ? { ign: false, spd: 0 } : { ign: true, spd: 2 };
    case 'driving':
      return engaged ? { ign: false, spd: 0 } : { ign: true, spd: 20 };
    case 'trailer':
      return { ign: false, spd: 55 };
  }
}
