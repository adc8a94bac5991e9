// The desktop backend: every method of the contract (common/desktop-api.ts)
// bound to the services, for the headless server and Electron's IPC alike.
import type { DesktopMethod, DesktopMethods, ParamsOf, ResultOf } from '../common/desktop-api.js';
import { connectEngine, type EngineConnection } from './engine-connection.js';
import { DesktopFailure } from './errors.js';
import { LiveHub } from './live.js';
import { ContainersService } from './services/containers.js';
import { explainContainer } from './services/explain.js';
import { ImagesService } from './services/images.js';
import { MachineService } from './services/machine.js';
import { ComposeService, NetworksService, VolumesService } from './services/resources.js';
import { SettingsService, hostLimits } from './services/settings.js';

export interface BackendOptions {
  /** The engine socket; default DOCKER_HOST, else the VM's ($BERTH_HOME/docker.sock). */
  socket?: string;
  /** BERTH_HOME for the VM state, logs and settings. */
  home?: string;
  /** Per-container stats streams in the live feed (default on). */
  stats?: boolean;
  /** Where DOCKER_HOST is read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

type Handlers = { [M in DesktopMethod]: (p: ParamsOf<M>) => Promise<ResultOf<M>> };

function str(p: Record<string, unknown>, key: string): string {
  const v = p[key];
  if (typeof v !== 'string' || v === '') throw new DesktopFailure(`"${key}" must be a non-empty string`, 400);
  return v;
}

export class DesktopBackend {
  readonly engine: EngineConnection;
  readonly containers: ContainersService;
  readonly images: ImagesService;
  readonly volumes: VolumesService;
  readonly networks: NetworksService;
  readonly compose: ComposeService;
  readonly machine: MachineService;
  readonly settings: SettingsService;
  readonly live: LiveHub;
  private readonly handlers: Handlers;
  private stateWatcher: ReturnType<MachineService['watchState']>;

  constructor(opts: BackendOptions = {}) {
    this.engine = connectEngine({ socket: opts.socket, env: opts.env });
    const d = this.engine.docker;
    this.containers = new ContainersService(d);
    this.images = new ImagesService(d);
    this.volumes = new VolumesService(d);
    this.networks = new NetworksService(d);
    this.compose = new ComposeService(d);
    this.machine = new MachineService(this.engine, opts.home);
    this.settings = new SettingsService(opts.home);
    this.live = new LiveHub(d, this.containers, { stats: opts.stats ?? true });
    this.stateWatcher = this.machine.watchState(() => {
      void this.machine.info().then((machine) => this.live.broadcast({ type: 'machine', machine }));
    });
    const c = this.containers;
    this.handlers = {
      'containers.list': () => c.list(),
      'containers.inspect': (p) => c.inspect(str(p, 'id')),
      'containers.start': (p) => c.start(str(p, 'id')),
      'containers.stop': (p) => c.stop(str(p, 'id')),
      'containers.restart': (p) => c.restart(str(p, 'id')),
      'containers.pause': (p) => c.pause(str(p, 'id')),
      'containers.unpause': (p) => c.unpause(str(p, 'id')),
      'containers.kill': (p) => c.kill(str(p, 'id')),
      'containers.remove': (p) => c.remove(str(p, 'id'), p.force === true),
      'containers.runLine': (p) => c.runLine(str(p, 'id')),
      'containers.files': (p) => c.files(str(p, 'id'), str(p, 'path')),
      'containers.explain': (p) => explainContainer(d, str(p, 'id')),
      'images.list': () => this.images.list(),
      'images.history': (p) => this.images.history(str(p, 'id')),
      'images.remove': (p) => this.images.remove(str(p, 'id'), p.force === true),
      'images.prune': (p) => this.images.prune(p.all === true),
      'images.run': (p) => {
        if (
          !p ||
          typeof p !== 'object' ||
          !Array.isArray(p.ports) ||
          !Array.isArray(p.env) ||
          !Array.isArray(p.volumes)
        )
          throw new DesktopFailure('a run request needs image, ports, env and volumes', 400);
        return this.images.run(p);
      },
      'volumes.list': () => this.volumes.list(),
      'volumes.create': (p) => this.volumes.create(str(p, 'name')),
      'volumes.remove': (p) => this.volumes.remove(str(p, 'name')),
      'volumes.prune': () => this.volumes.prune(),
      'networks.list': () => this.networks.list(),
      'networks.create': (p) => this.networks.create(str(p, 'name')),
      'networks.remove': (p) => this.networks.remove(str(p, 'id')),
      'compose.list': () => this.compose.list(),
      'compose.action': (p) => {
        if (!['up', 'start', 'stop', 'restart', 'down'].includes(p.action))
          throw new DesktopFailure('action must be up, start, stop, restart or down', 400);
        return this.compose.action(str(p, 'project'), p.action);
      },
      'machine.info': () => this.machine.info(),
      'machine.logs': (p) => this.machine.logs(typeof p.lines === 'number' ? p.lines : undefined),
      'machine.doctor': () => this.machine.doctor(),
      'machine.action': (p) => {
        if (!['start', 'stop', 'restart'].includes(p.action))
          throw new DesktopFailure('action must be start, stop or restart', 400);
        return this.machine.action(p.action);
      },
      'machine.reset': (p) => {
        // The dashboard asks the user first; the word guards against a stray call.
        if (p.confirm !== 'reset')
          throw new DesktopFailure('a reset must be confirmed ({"confirm": "reset"})', 400);
        return this.machine.reset(this.settings.file);
      },
      'settings.get': () => this.settings.get(),
      'settings.limits': async () => hostLimits(),
      'settings.save': (p) => {
        if (!p?.settings || typeof p.settings !== 'object')
          throw new DesktopFailure('"settings" is missing', 400);
        return this.settings.save(p.settings);
      },
    };
  }

  isMethod(name: string): name is DesktopMethod {
    return Object.hasOwn(this.handlers, name);
  }

  async call<M extends DesktopMethod>(method: M, params: DesktopMethods[M]['params']): Promise<ResultOf<M>> {
    const handler = this.handlers[method] as (p: ParamsOf<M>) => Promise<ResultOf<M>>;
    if (!handler) throw new DesktopFailure(`no such method: ${method}`, 404);
    return handler((params ?? {}) as ParamsOf<M>);
  }

  close(): void {
    this.stateWatcher?.close();
  }
}
