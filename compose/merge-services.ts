// Merges the same service from several -f files, later files winning, as the
// Compose Specification's merge rules say: maps merge key by key, ports and
// expose add up, volumes merge by target, other values are replaced.
import type { ServiceDraft } from './service-draft.js';

export function mergeServiceDrafts(base: ServiceDraft, over: ServiceDraft): ServiceDraft {
  const out: ServiceDraft = { ...base, ...over };
  out.environmentEntries = { ...base.environmentEntries, ...over.environmentEntries };
  out.envFiles = over.envFiles.length > 0 ? [...base.envFiles, ...over.envFiles] : base.envFiles;
  const maps = ['labels', 'networks', 'dependsOn', 'sysctls', 'ulimits'] as const;
  for (const k of maps) {
    if (base[k] || over[k]) (out as Record<string, unknown>)[k] = { ...base[k], ...over[k] };
  }
  if (base.ports || over.ports) {
    const seen = new Set<string>();
    out.ports = [...(base.ports ?? []), ...(over.ports ?? [])].filter((p) => {
      const key = JSON.stringify(p);
      return !seen.has(key) && seen.add(key);
    });
  }
  const lists = [
    'expose',
    'tmpfs',
    'capAdd',
    'capDrop',
    'extraHosts',
    'dns',
    'securityOpt',
    'groupAdd',
  ] as const;
  for (const k of lists) {
    if (base[k] || over[k]) out[k] = [...new Set([...(base[k] ?? []), ...(over[k] ?? [])])];
  }
  if (base.devices || over.devices) {
    // By the path in the container, as volumes by target.
    const byTarget = new Map((base.devices ?? []).map((d) => [d.PathInContainer, d]));
    for (const d of over.devices ?? []) byTarget.set(d.PathInContainer, d);
    out.devices = [...byTarget.values()];
  }
  if (base.volumes || over.volumes) {
    const byTarget = new Map((base.volumes ?? []).map((v) => [v.target, v]));
    for (const v of over.volumes ?? []) byTarget.set(v.target, v);
    out.volumes = [...byTarget.values()];
  }
  if (base.logging && over.logging) {
    out.logging = {
      driver: over.logging.driver ?? base.logging.driver,
      options:
        over.logging.driver && over.logging.driver !== base.logging.driver
          ? over.logging.options
          : { ...base.logging.options, ...over.logging.options },
    };
  }
  return out;
}
