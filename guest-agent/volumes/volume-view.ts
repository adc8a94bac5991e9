// A volume as the Engine API shows it (inspect, ls, system df).
import type { VolumeRecord } from './volume-types.js';

export function volumeView(v: VolumeRecord): Record<string, unknown> {
  return {
    CreatedAt: v.CreatedAt,
    Driver: v.Driver,
    Labels: v.Labels,
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Options: Object.keys(v.Options).length ? v.Options : null,
    Scope: v.Scope,
  };
}
