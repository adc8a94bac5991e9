// /networks/…: user networks and connecting containers to them.
import type { Engine } from '../../engine/engine.js';
import {
  checkFilterKeys,
  matchLabels,
  matchPruneLabels,
  parseFilters,
  pruneUntilMs,
} from '../../engine/filters.js';
import { forbidden, invalid } from '../../errors.js';
import type { NetworkCreateRequest, NetworkRecord } from '../../network/network-types.js';
import { readJsonBody, replyJson, replyStatus } from '../http-io.js';
import type { Router } from '../router.js';

const PREDEFINED = ['bridge', 'host', 'none'];

function view(engine: Engine, n: NetworkRecord, withContainers: boolean): Record<string, unknown> {
  return {
    Name: n.Name,
    Id: n.Id,
    Created: n.Created,
    Scope: 'local',
    Driver: n.Driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: n.IPAM.Options ?? null, Config: n.IPAM.Config },
    Internal: n.Internal,
    Attachable: n.Attachable ?? false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: withContainers ? engine.network.containersOf(n.Id) : {},
    Options: n.Options,
    Labels: n.Labels,
  };
}

async function body(ctx: Parameters<Parameters<Router['add']>[2]>[0]): Promise<Record<string, unknown>> {
  const b = (await readJsonBody(ctx)) ?? {};
  if (typeof b !== 'object' || Array.isArray(b)) throw invalid('request body must be a JSON object');
  return b as Record<string, unknown>;
}

export function registerNetworkRoutes(router: Router, engine: Engine): void {
  const net = engine.network;
  router
    .add('GET', '/networks', (ctx) => {
      const filters = parseFilters(ctx.query.get('filters'));
      checkFilterKeys(filters, ['name', 'id', 'driver', 'label', 'type', 'scope', 'dangling']);
      const list = net.list().filter((n) => {
        const names = filters.get('name');
        if (names?.length && !names.some((x) => n.Name.includes(x))) return false;
        const ids = filters.get('id');
        if (ids?.length && !ids.some((x) => n.Id.startsWith(x))) return false;
        const drivers = filters.get('driver');
        if (drivers?.length && !drivers.includes(n.Driver)) return false;
        const type = filters.get('type');
        if (type?.length && !type.includes(PREDEFINED.includes(n.Name) ? 'builtin' : 'custom')) return false;
        return matchLabels(n.Labels, filters.get('label'));
      });
      replyJson(
        ctx,
        200,
        list.map((n) => view(engine, n, false)),
      );
    })
    .add('POST', '/networks/create', async (ctx) => {
      const req = await body(ctx);
      if (typeof req.Name !== 'string' || !req.Name) throw invalid('network name is required');
      const created = await net.create(req as unknown as NetworkCreateRequest);
      replyJson(ctx, 201, { Id: created.Id, Warning: '' });
    })
    .add('POST', '/networks/prune', async (ctx) => {
      const filters = parseFilters(ctx.query.get('filters'));
      checkFilterKeys(filters, ['until', 'label', 'label!']);
      const until = filters.get('until')?.[0];
      const untilMs = until ? pruneUntilMs(until) : undefined;
      const deleted: string[] = [];
      for (const n of net.list()) {
        if (PREDEFINED.includes(n.Name) || !matchPruneLabels(n.Labels, filters)) continue;
        if (untilMs !== undefined && Date.parse(n.Created) >= untilMs) continue;
        if (Object.keys(net.containersOf(n.Id)).length) continue;
        if (
          engine.containers
            .list()
            .some((c) => c.HostConfig.NetworkMode === n.Name || c.EndpointsConfig?.[n.Name])
        )
          continue;
        await net.remove(n.Id);
        deleted.push(n.Name);
      }
      replyJson(ctx, 200, { NetworksDeleted: deleted });
    })
    .add('GET', '/networks/{id}', (ctx) => replyJson(ctx, 200, view(engine, net.get(ctx.params.id), true)))
    .add('DELETE', '/networks/{id}', async (ctx) => {
      const n = net.get(ctx.params.id);
      const users = engine.containers
        .list()
        .filter((c) => c.HostConfig.NetworkMode === n.Name || c.EndpointsConfig?.[n.Name]);
      if (users.length && !PREDEFINED.includes(n.Name)) {
        throw forbidden(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
      }
      await net.remove(n.Id);
      replyStatus(ctx, 204);
    })
    .add('POST', '/networks/{id}/connect', async (ctx) => {
      const req = await body(ctx);
      if (typeof req.Container !== 'string') throw invalid('Container is required');
      const cfg = (req.EndpointConfig ?? {}) as {
        Aliases?: string[];
        IPAMConfig?: { IPv4Address?: string };
        MacAddress?: string;
      };
      await engine.containers.connectNetwork(req.Container, ctx.params.id, {
        Aliases: cfg.Aliases,
        IPv4Address: cfg.IPAMConfig?.IPv4Address,
        MacAddress: cfg.MacAddress,
      });
      replyStatus(ctx, 200);
    })
    .add('POST', '/networks/{id}/disconnect', async (ctx) => {
      const req = await body(ctx);
      if (typeof req.Container !== 'string') throw invalid('Container is required');
      await engine.containers.disconnectNetwork(req.Container, ctx.params.id);
      replyStatus(ctx, 200);
    });
}
