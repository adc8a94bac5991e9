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
    'links',
    'externalLinks',
    'volumesFrom',
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
  for (const k of ['secrets', 'configs'] as const) {
    if (!base[k] && !over[k]) continue;
    // By the path in the container, as volumes by target.
    const byTarget = new Map((base[k] ?? []).map((r) => [r.target, r]));
    for (const r of over[k] ?? []) byTarget.set(r.target, r);
    out[k] = [...byTarget.values()];
  }
  for (const k of ['postStart', 'preStop'] as const) {
    if (base[k] || over[k]) out[k] = [...(base[k] ?? []), ...(over[k] ?? [])];
  }
  if (base.hostOptions && over.hostOptions) {
    const [b, o] = [base.hostOptions, over.hostOptions];
    out.hostOptions = { ...b, ...o };
    if (b.Annotations || o.Annotations) out.hostOptions.Annotations = { ...b.Annotations, ...o.Annotations };
    if (b.StorageOpt || o.StorageOpt) out.hostOptions.StorageOpt = { ...b.StorageOpt, ...o.StorageOpt };
    for (const f of ['DnsOptions', 'DnsSearch', 'DeviceCgroupRules'] as const) {
      if (b[f] || o[f]) out.hostOptions[f] = [...new Set([...(b[f] ?? []), ...(o[f] ?? [])])];
    }
  }
  if (base.labelFiles || over.labelFiles)
    out.labelFiles = [...(base.labelFiles ?? []), ...(over.labelFiles ?? [])];
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
