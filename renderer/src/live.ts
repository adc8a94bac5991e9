// One /ws/live connection for the whole dashboard: container rows and stats
// into the containers store, "changed" notices into a version counter per
// resource (views refetch on change), machine state. Reconnects after a drop.
import { createStore } from 'zustand/vanilla';
import type { LiveMessage, MachineInfo } from '../../common/desktop-api.js';
import { openStream } from './api/client.js';
import { createContainersStore } from './stores/containers.js';

export const containersStore = createContainersStore();

export interface ResourceVersions {
  images: number;
  volumes: number;
  networks: number;
  machine?: MachineInfo;
}

export const versions = createStore<ResourceVersions>()(() => ({ images: 0, volumes: 0, networks: 0 }));

export function connectLive(): void {
  openStream<LiveMessage>('/ws/live', {
    onMessage(m) {
      if (m.type === 'changed') versions.setState((v) => ({ ...v, [m.what]: v[m.what] + 1 }));
      else if (m.type === 'machine') versions.setState({ machine: m.machine });
      else containersStore.getState().apply(m);
    },
    onClose() {
      containersStore.getState().apply({ type: 'engine-down', message: 'the dashboard lost its server' });
      setTimeout(connectLive, 1000);
    },
  });
}
