/** Free loopback ports and whether something listens on one. */
import { connect as netConnect } from 'node:net';

export { freePort } from '../../deploy/cluster/start.ts';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
