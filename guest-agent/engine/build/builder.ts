// The classic builder (POST /build): a Dockerfile's stages run step by step,
// every step an image whose parent is the previous one, as dockerd's
// builder/dockerfile does it. RUN runs in a real container (create, attach,
// start, wait, then its changes become the layer); COPY, ADD and WORKDIR
// write into an overlay of the parent's layers; the other instructions only
// change the config. A step whose inputs are unchanged reuses its image.
//
// Messages are dockerd's, written to a BuildOutput; the HTTP side turns them
// into the JSON stream the CLI renders.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { EngineError, invalid, notFound } from '../../errors.js';
import { shortId } from '../../util/ids.js';
import { hostOwner } from '../../util/id-map.js';
import { log } from '../../util/logger.js';
import type { ImageStore } from '../../storage/image-store.js';
import type { ImageConfig, ImageRecord } from '../../storage/image-types.js';
import type { RootfsManager } from '../../storage/rootfs.js';
import {
  RUNTIME_STUB_DIRS,
  RUNTIME_STUB_FILES,
  diffTar,
  dirSize,
  readOpaque,
} from '../../storage/layer-diff.js';
import { familiarReference, parseReference } from '../../storage/reference.js';
import { resolveUser } from '../../runtime/user.js';
import type { Credentials } from '../../storage/registry/auth.js';
import type { ContainerService } from '../containers.js';
import type { ImageService } from '../images.js';
import type { ImageDistribution, TransferEvent } from '../image-distribution.js';
import { parseSignal } from '../signals.js';
import { ContainerFs } from '../../volumes/safe-path.js';
import { BuildArgs } from './build-args.js';
import { BuildCache, matchCacheFrom } from './build-cache.js';
import { BuildContext } from './build-context.js';
import {
  copyInto,
  diskTree,
  resolveSources,
  sourcesHash,
  type CopySource,
  type SourceTree,
} from './copy-step.js';
import { parseBuild, parseTrigger, type Instruction, type Stage } from './instructions.js';
import { envMap, expandHeredoc, expandWord, expandWords } from './shell-lex.js';
import { parseRunMount, type RunMount } from './run-mounts.js';
import { insideContext } from './source-paths.js';
import { heredocMarker, type Heredoc } from './dockerfile-parser.js';

type RunConfig = NonNullable<ImageConfig['config']> & { ArgsEscaped?: boolean };

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_SHELL = ['/bin/sh', '-c'];

export interface BuildOptions {
  dockerfile: string;
  tags: string[];
  buildArgs: Map<string, string | null>;
  labels: Record<string, string>;
  noCache: boolean;
  cacheFrom: string[];
  target: string;
  pull: boolean;
  platform: string;
  /** RUN's network: "default"/"bridge", "none", "host", or a network name. */
  networkMode: string;
  remove: boolean;
  forceRemove: boolean;
  /** RUN containers' limits and extras (--memory, --cpu-shares, --shm-size, --add-host, …), as HostConfig fields. */
  hostConfig: Record<string, unknown>;
  /** Registry credentials by server (X-Registry-Config), for FROM images pulled. */
  credentials: (domain: string) => Credentials;
  signal: AbortSignal;
}

/** Where a build's messages go: text lines, pull progress, and the aux image ID. */
export interface BuildOutput {
  stream(text: string): void;
  progress(event: TransferEvent): void;
  aux(value: Record<string, unknown>): void;
}

/** A RUN that exited non-zero: the message and code dockerd reports. */
export class BuildStepError extends EngineError {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super('internal', message);
  }
}

export interface BuilderDeps {
  store: ImageStore;
  rootfs: RootfsManager;
  containers: ContainerService;
  images: ImageService;
  distribution?: ImageDistribution;
  dataRoot: string;
}

interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

interface StageState {
  imageId: string;
  image?: ImageRecord;
  config: RunConfig;
  platform: Platform;
  name: string;
  args: BuildArgs;
  cmdSet: boolean;
  maintainer?: string;
}

function hostPlatform(): Platform {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
  return { os: 'linux', architecture: arch };
}

function parsePlatformSpec(spec: string): Platform {
  const parts = spec.toLowerCase().split('/');
  if (parts.length < 2 || parts.some((p) => p === '')) throw invalid(`failed to parse platform ${spec}`);
  const arch = parts[1] === 'x86_64' ? 'amd64' : parts[1] === 'aarch64' ? 'arm64' : parts[1]!;
  return { os: parts[0]!, architecture: arch, variant: parts[2] };
}

/** Go's %q of a []string. */
function goQuoteList(list: string[] | null | undefined): string {
  return `[${(list ?? []).map((s) => JSON.stringify(s)).join(' ')}]`;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (structuredClone(v) as T);
}

const short = (id: string) => (id ? shortId(id) : '');

export class Builder {
  private readonly cache: BuildCache;

  constructor(private readonly deps: BuilderDeps) {
    this.cache = new BuildCache(path.join(deps.dataRoot, 'builder', 'cache'), (id) => deps.store.resolve(id));
  }

  /** At engine start, before any build. */
  init(): Promise<void> {
    return this.cache.init();
  }

  /** `docker builder prune`: the cache forgets every step (the step images stay, as images). */
  async pruneCache(): Promise<{ CachesDeleted: string[]; SpaceReclaimed: number }> {
    // RUN --mount=type=cache directories go too, as BuildKit's cache mounts do.
    const mounts = path.join(this.deps.dataRoot, 'builder', 'cache-mounts');
    const reclaimed = await dirSize(mounts).catch(() => 0);
    await fs.rm(mounts, { recursive: true, force: true });
    return { CachesDeleted: await this.cache.clear(), SpaceReclaimed: reclaimed };
  }

  /** Validate the tags first: a bad one is refused before any work, as dockerd does. */
  static checkTags(tags: string[]): string[] {
    return tags.map((t) => {
      let parsed;
      try {
        parsed = parseReference(t);
      } catch {
        throw invalid(`invalid reference format: ${t}`);
      }
      if (parsed.digest) throw invalid(`invalid reference format: ${t} (a tag cannot name a digest)`);
      return familiarReference(t);
    });
  }

  async build(body: NodeJS.ReadableStream, opts: BuildOptions, out: BuildOutput): Promise<string> {
    const tags = Builder.checkTags(opts.tags);
    const work = await this.deps.store.workDir('build');
    try {
      const dockerfile = opts.dockerfile || 'Dockerfile';
      const context = await BuildContext.receive(body, path.join(work, 'context'), dockerfile);
      const text = await context.readDockerfile(dockerfile);
      await context.applyIgnoreFile(dockerfile);
      const parsed = parseBuild(text);
      let stages = parsed.stages;
      if (opts.target) {
        const i = stages.findIndex((s) => s.name === opts.target.toLowerCase());
        if (i < 0) throw invalid(`target stage "${opts.target}" could not be found`);
        stages = stages.slice(0, i + 1);
      }
      for (const w of parsed.warnings) out.stream(`[WARNING]: ${w}\n`);
      if (parsed.warnings.length)
        out.stream('[WARNING]: Empty continuation lines will become errors in a future release.\n');
      const run = new BuildRun(this.deps, this.cache, opts, out, context, work, parsed.escape);
      const id = await run.dispatchAll(parsed.metaArgs, stages);
      out.stream(`Successfully built ${short(id)}\n`);
      for (const tag of tags) {
        await this.deps.images.tag(id, tag, undefined);
        out.stream(`Successfully tagged ${tag}\n`);
      }
      return id;
    } finally {
      await fs.rm(work, { recursive: true, force: true }).catch(() => {});
    }
  }
}

/** A bind mount of a RUN step: a host path at a target in the step container. */
interface StepBind {
  source: string;
  target: string;
  readonly: boolean;
}

/** RUN --mount, resolved: what goes into the cache key, and what the step container mounts. */
interface StepMounts {
  keys: string[];
  tmpfs: Record<string, string>;
  binds: StepBind[];
  /** Binds from a stage's or an image's root, mounted for the step. */
  stages: Array<{ image: ImageRecord | undefined; source: string; target: string; readwrite: boolean }>;
  /** Binds from the context, made when the step runs (a cache hit leaves the context packed). */
  contextBinds: Array<{ rel: string; target: string; readwrite: boolean }>;
}

/** One build in progress. */
class BuildRun {
  private readonly stageResults: Array<{ name: string; imageId: string }> = [];
  private cacheFrom?: ImageRecord[];
  private readonly platform?: Platform;
  private downloads = 0;

  constructor(
    private readonly deps: BuilderDeps,
    private readonly cache: BuildCache,
    private readonly opts: BuildOptions,
    private readonly out: BuildOutput,
    private readonly context: BuildContext,
    private readonly work: string,
    private readonly escape: string,
  ) {
    if (opts.platform) this.platform = parsePlatformSpec(opts.platform);
  }

  private checkCancelled(): void {
    if (this.opts.signal.aborted) {
      this.out.stream('Build cancelled\n');
      throw new EngineError('internal', 'Build cancelled');
    }
  }

  async dispatchAll(
    metaArgs: Array<Extract<Instruction, { kind: 'arg' }>>,
    stages: Stage[],
  ): Promise<string> {
    const args = new BuildArgs(this.opts.buildArgs);
    const labelKeys = Object.keys(this.opts.labels).sort();
    const total = metaArgs.length + stages.reduce((n, s) => n + 1 + s.commands.length, 0) + labelKeys.length;
    let step = 1;
    const print = (text: string) => {
      this.out.stream(`Step ${step++}/${total} : ${text}`);
      this.out.stream('\n');
    };
    for (const meta of metaArgs) {
      print(meta.node.original);
      const env = envMap([...args.allMeta()].map(([k, v]) => `${k}=${v}`));
      for (const a of meta.args) {
        const key = expandWord(a.key, env, this.escape);
        args.addMeta(key, a.value === undefined ? undefined : expandWord(a.value, env, this.escape));
      }
    }
    let state: StageState | undefined;
    for (let si = 0; si < stages.length; si++) {
      const stage = stages[si]!;
      if (stage.name && this.stageResults.some((r) => r.name === stage.name))
        throw invalid(`${stage.name} stage name already used`);
      print(stage.node.original);
      this.checkCancelled();
      state = await this.initStage(stage, args.forStage());
      this.out.stream(` ---> ${short(state.imageId)}\n`);
      const commands: Instruction[] = [...stage.commands];
      if (si === stages.length - 1) {
        for (const key of labelKeys) {
          const original = `LABEL ${key}=${this.opts.labels[key]}`;
          commands.push({
            kind: 'label',
            pairs: [{ key, value: this.opts.labels[key]!, noDelim: false }],
            node: { ...stage.node, keyword: 'label', name: 'LABEL', original, flags: [], args: [] },
            noExpand: true,
          });
        }
      }
      for (const cmd of commands) {
        this.checkCancelled();
        print(cmd.node.original);
        await this.dispatch(state, cmd);
        this.out.stream(` ---> ${short(state.imageId)}\n`);
      }
      if (state.imageId) this.out.aux({ ID: state.imageId });
      this.stageResults.push({ name: stage.name, imageId: state.imageId });
    }
    const unused = args.unused();
    if (unused.length)
      this.out.stream(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    if (!state?.imageId) throw invalid('No image was generated. Is your Dockerfile empty?');
    return state.imageId;
  }

  // ---- FROM ----------------------------------------------------------------

  private async initStage(stage: Stage, args: BuildArgs): Promise<StageState> {
    const metaEnv = envMap([...args.allMeta()].map(([k, v]) => `${k}=${v}`));
    let platform = this.platform;
    if (stage.platform) {
      const spec = expandWord(stage.platform, metaEnv, this.escape);
      platform = parsePlatformSpec(spec);
    }
    const name = expandWord(stage.baseName, metaEnv, this.escape);
    if (name === '') throw invalid(`base name (${stage.baseName}) should not be blank`);
    let image: ImageRecord | undefined;
    const previous = [...this.stageResults].reverse().find((r) => r.name && r.name === name.toLowerCase());
    if (previous) {
      image = previous.imageId ? this.deps.store.resolve(previous.imageId) : undefined;
    } else if (name.toLowerCase() !== 'scratch') {
      image = await this.imageFor(name, platform);
    }
    const state: StageState = {
      imageId: image?.id ?? '',
      image,
      config: clone(image?.config.config ?? {}) as RunConfig,
      platform: image
        ? {
            os: image.config.os,
            architecture: image.config.architecture,
            ...(typeof image.config.variant === 'string' ? { variant: image.config.variant } : {}),
          }
        : (platform ?? hostPlatform()),
      name: stage.name,
      args,
      cmdSet: false,
    };
    if (!(state.config.Env ?? []).some((e) => e.startsWith('PATH=')))
      state.config.Env = [...(state.config.Env ?? []), DEFAULT_PATH];
    const triggers = state.config.OnBuild ?? [];
    if (triggers.length) {
      state.config.OnBuild = null;
      this.out.stream(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      for (const t of triggers) await this.dispatch(state, parseTrigger(t));
    }
    return state;
  }

  /** A FROM or COPY --from image: local, or pulled when absent (or when the build asks to pull). */
  private async imageFor(name: string, platform?: Platform): Promise<ImageRecord> {
    let ref: ReturnType<typeof parseReference>;
    try {
      ref = parseReference(name);
    } catch {
      throw invalid(`invalid reference format: repository name (${name}) must be lowercase`);
    }
    let image = this.deps.store.resolve(name);
    const wrongPlatform =
      image &&
      platform &&
      (image.config.architecture !== platform.architecture || image.config.os !== platform.os);
    if (image && !this.opts.pull && !wrongPlatform) return image;
    const dist = this.deps.distribution;
    if (!dist) {
      if (image && !wrongPlatform) return image;
      throw notFound(`No such image: ${familiarReference(name)} (pulling images is not available)`);
    }
    try {
      await dist.pull({
        image: name,
        tag: ref.tag === undefined && ref.digest === undefined ? 'latest' : undefined,
        platform: platform
          ? `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`
          : undefined,
        credentials: this.opts.credentials(ref.domain),
        signal: this.opts.signal,
        progress: (e) => this.out.progress(e),
      });
    } catch (err) {
      if (image && !wrongPlatform && this.opts.pull) {
        log.warn('build: pull failed, using the local image', { image: name, error: (err as Error).message });
        return image;
      }
      throw err;
    }
    image = this.deps.store.resolve(name);
    if (!image) throw notFound(`No such image: ${familiarReference(name)}`);
    return image;
  }

  // ---- dispatch --------------------------------------------------------------

  private env(state: StageState): Map<string, string> {
    const env = state.config.Env ?? [];
    return envMap([...env, ...state.args.filterAllowed(env)]);
  }

  private async dispatch(state: StageState, cmd: Instruction): Promise<void> {
    const env = this.env(state);
    const x = (w: string) => expandWord(w, env, this.escape);
    const c = state.config;
    switch (cmd.kind) {
      case 'env': {
        const parts: string[] = [];
        for (const p of cmd.pairs) {
          const key = x(p.key);
          const value = x(p.value);
          const entry = `${key}=${value}`;
          parts.push(entry);
          const list = c.Env ?? [];
          const i = list.findIndex((e) => e.split('=')[0] === key);
          if (i >= 0) list[i] = entry;
          else list.push(entry);
          c.Env = list;
        }
        return this.commitConfig(state, `ENV ${parts.join(' ')}`);
      }
      case 'label': {
        const noExpand = cmd.noExpand;
        const parts: string[] = [];
        c.Labels = c.Labels ?? {};
        for (const p of cmd.pairs) {
          const key = noExpand ? p.key : x(p.key);
          const value = noExpand ? p.value : x(p.value);
          c.Labels[key] = value;
          parts.push(`${key}=${value}`);
        }
        return this.commitConfig(state, `LABEL ${parts.join(' ')}`);
      }
      case 'maintainer':
        state.maintainer = cmd.value;
        return this.commitConfig(state, `MAINTAINER ${cmd.value}`);
      case 'onbuild':
        c.OnBuild = [...(c.OnBuild ?? []), cmd.expression];
        return this.commitConfig(state, `ONBUILD ${cmd.expression}`);
      case 'workdir': {
        const p = x(cmd.path);
        c.WorkingDir = path.posix.normalize(
          path.posix.isAbsolute(p) ? p : path.posix.join('/', c.WorkingDir || '/', p),
        );
        const dir = c.WorkingDir;
        return this.commitRootfs(state, `WORKDIR ${dir}`, async (root) => {
          await mkdirIn(root, dir);
        });
      }
      case 'run':
        return this.run(state, cmd, x);
      case 'cmd': {
        c.Cmd = this.commandLine(state, cmd.cmdLine ?? [], cmd.prependShell);
        await this.commitConfig(state, `CMD ${goQuoteList(c.Cmd)}`);
        if ((cmd.cmdLine ?? []).length) state.cmdSet = true;
        return;
      }
      case 'entrypoint': {
        c.Entrypoint = cmd.cmdLine === null ? null : this.commandLine(state, cmd.cmdLine, cmd.prependShell);
        if (!state.cmdSet) c.Cmd = null;
        return this.commitConfig(state, `ENTRYPOINT ${goQuoteList(c.Entrypoint)}`);
      }
      case 'healthcheck': {
        const old = c.Healthcheck as { Test?: string[] } | undefined;
        if (old?.Test?.length && old.Test[0] !== 'NONE')
          this.out.stream(`Note: overriding previous HEALTHCHECK: [${old.Test.join(' ')}]\n`);
        c.Healthcheck = cmd.health;
        return this.commitConfig(state, `HEALTHCHECK ${JSON.stringify(cmd.health)}`);
      }
      case 'expose': {
        const ports = cmd.ports.flatMap((p) => expandWords(p, env, this.escape));
        c.ExposedPorts = c.ExposedPorts ?? {};
        for (const p of ports) for (const spec of exposedPorts(p)) c.ExposedPorts[spec] = {};
        return this.commitConfig(state, `EXPOSE ${ports.join(' ')}`);
      }
      case 'user':
        c.User = x(cmd.user);
        return this.commitConfig(state, `USER ${c.User}`);
      case 'volume': {
        const volumes = cmd.volumes.map(x);
        c.Volumes = c.Volumes ?? {};
        for (const v of volumes) {
          if (v === '') throw invalid('VOLUME specified can not be an empty string');
          c.Volumes[v] = {};
        }
        return this.commitConfig(state, `VOLUME [${volumes.join(' ')}]`);
      }
      case 'stopsignal': {
        const sig = x(cmd.signal);
        parseSignal(sig);
        c.StopSignal = sig;
        return this.commitConfig(state, `STOPSIGNAL ${sig}`);
      }
      case 'arg': {
        const parts: string[] = [];
        for (const a of cmd.args) {
          const key = x(a.key);
          const value = a.value === undefined ? undefined : x(a.value);
          parts.push(value === undefined ? key : `${key}=${value}`);
          state.args.addArg(key, value);
        }
        return this.commitConfig(state, `ARG ${parts.join(' ')}`);
      }
      case 'shell':
        c.Shell = cmd.shell;
        return this.commitConfig(state, `SHELL [${cmd.shell.join(' ')}]`);
      case 'copy':
      case 'add':
        return this.copy(state, cmd, x);
    }
  }

  private shell(state: StageState): string[] {
    return state.config.Shell?.length ? [...state.config.Shell] : [...DEFAULT_SHELL];
  }

  private commandLine(state: StageState, cmdLine: string[], prependShell: boolean): string[] {
    return prependShell ? [...this.shell(state), ...cmdLine] : [...cmdLine];
  }

  // ---- steps and their images -----------------------------------------------

  private platformKey(state: StageState): string {
    const p = state.platform;
    return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
  }

  /** A cached image for this step, if there is one; the state moves to it. */
  private async probeCache(state: StageState, cacheConfig: RunConfig): Promise<string | undefined> {
    if (this.opts.noCache) return undefined;
    const key = this.cache.key(state.imageId, cacheConfig, this.platformKey(state));
    const hit = await this.cache.get(key);
    if (hit) {
      this.out.stream(' ---> Using cache\n');
      this.moveTo(state, hit);
      return key;
    }
    if (this.opts.cacheFrom.length) {
      this.cacheFrom ??= this.opts.cacheFrom
        .map((r) => this.deps.store.resolve(r))
        .filter((i): i is ImageRecord => Boolean(i));
      const createdBy = (cacheConfig.Cmd ?? []).join(' ');
      const match = matchCacheFrom(state.image, createdBy, this.cacheFrom);
      if (match) {
        const cfg = this.childConfig(state, cacheConfig, match.entry.created_by ?? createdBy, !match.layer);
        if (match.layer) cfg.rootfs.diff_ids.push(match.layer);
        const img = await this.deps.store.createFromLayerTar(null, cfg, [], {
          parent: state.imageId || undefined,
        });
        await this.cache.put(key, img.id);
        this.out.stream(' ---> Using cache\n');
        this.moveTo(state, img);
        return key;
      }
    }
    return undefined;
  }

  private moveTo(state: StageState, image: ImageRecord): void {
    state.imageId = image.id;
    state.image = image;
  }

  private childConfig(
    state: StageState,
    cacheConfig: RunConfig,
    createdBy: string,
    emptyLayer: boolean,
  ): ImageConfig {
    const parent = state.image?.config;
    const now = new Date().toISOString();
    return {
      architecture: state.platform.architecture,
      os: state.platform.os,
      ...(state.platform.variant ? { variant: state.platform.variant } : {}),
      created: now,
      ...(state.maintainer ? { author: state.maintainer } : {}),
      config: clone(state.config),
      container_config: cacheConfig,
      rootfs: { type: 'layers', diff_ids: [...(parent?.rootfs.diff_ids ?? [])] },
      history: [
        ...(parent?.history ?? []),
        { created: now, created_by: createdBy, ...(emptyLayer ? { empty_layer: true } : {}) },
      ],
    };
  }

  private async createImage(
    state: StageState,
    key: string | undefined,
    cacheConfig: RunConfig,
    layer: NodeJS.ReadableStream | null,
  ): Promise<void> {
    const cfg = this.childConfig(state, cacheConfig, (cacheConfig.Cmd ?? []).join(' '), layer === null);
    const img = await this.deps.store.createFromLayerTar(layer, cfg, [], {
      parent: state.imageId || undefined,
    });
    if (key) await this.cache.put(key, img.id);
    this.moveTo(state, img);
  }

  private cacheKeyOf(state: StageState, cacheConfig: RunConfig): string {
    return this.cache.key(state.imageId, cacheConfig, this.platformKey(state));
  }

  /** A step that changes only the config (ENV, LABEL, CMD, …). */
  private async commitConfig(state: StageState, comment: string): Promise<void> {
    const cacheConfig: RunConfig = {
      ...clone(state.config),
      Cmd: [...this.shell(state), '#(nop) ', comment],
    };
    if (await this.probeCache(state, cacheConfig)) return;
    await this.createImage(state, this.cacheKeyOf(state, cacheConfig), cacheConfig, null);
  }

  /** A step that writes files (COPY, ADD, WORKDIR): an overlay of the parent, its changes the layer. */
  private async commitRootfs(
    state: StageState,
    comment: string,
    write: (root: string) => Promise<void>,
  ): Promise<void> {
    const cacheConfig: RunConfig = {
      ...clone(state.config),
      Cmd: [...this.shell(state), `#(nop) ${comment}`],
    };
    if (await this.probeCache(state, cacheConfig)) return;
    const key = this.cacheKeyOf(state, cacheConfig);
    await this.withRootfs(state.image, async (root, upper) => {
      await write(root);
      await this.createImage(state, key, cacheConfig, (await isEmptyDir(upper)) ? null : diffTar(upper));
    });
  }

  /** An overlay of an image's layers under a fresh upper dir, for the time of fn. */
  private async withRootfs<T>(
    image: ImageRecord | undefined,
    fn: (root: string, upper: string) => Promise<T>,
  ): Promise<T> {
    const id = `build-${randomBytes(16).toString('hex')}`;
    const { rootfs, store } = this.deps;
    try {
      const root = await rootfs.mount(id, image ? store.layerDirs(image) : []);
      try {
        return await fn(root, rootfs.upperDir(id));
      } finally {
        await rootfs.unmount(id);
      }
    } finally {
      await rootfs
        .remove(id)
        .catch((err: unknown) =>
          log.warn('build: could not remove a step root filesystem', { id, error: (err as Error).message }),
        );
    }
  }

  // ---- COPY / ADD ---------------------------------------------------------------

  private async copy(
    state: StageState,
    cmd: Extract<Instruction, { kind: 'copy' | 'add' }>,
    x: (w: string) => string,
  ): Promise<void> {
    const instruction = cmd.kind === 'copy' ? 'COPY' : 'ADD';
    const chown = x(cmd.chown);
    const chmodText = x(cmd.chmod);
    let chmod: number | undefined;
    if (chmodText) {
      if (!/^[0-7]{1,4}$/.test(chmodText)) throw invalid(`invalid chmod parameter: ${chmodText}`);
      chmod = parseInt(chmodText, 8);
    }
    const requested = x(cmd.dest);
    const endsInSlash = requested.endsWith('/');
    let dest = path.posix.isAbsolute(requested)
      ? requested
      : path.posix.join('/', state.config.WorkingDir || '/', requested);
    if (endsInSlash && !dest.endsWith('/')) dest += '/';
    const sourcesText = cmd.sources.map(x);

    const run = async (tree: SourceTree) => {
      const sources = await resolveSources(tree, sourcesText, instruction, (url) => this.download(url));
      const hash = await sourcesHash(sources, tree);
      const comment = `${instruction} ${chown ? `--chown=${chown} ` : ''}${chmod !== undefined ? `--chmod=${chmodText} ` : ''}${hash} in ${dest} `;
      await this.commitRootfs(state, comment, async (root) => {
        await tree.prepare();
        let owner = { uid: 0, gid: 0 };
        if (chown) {
          const spec = chown.includes(':') ? chown : `${chown}:${chown}`;
          try {
            const u = await resolveUser(root, spec);
            owner = { uid: u.uid, gid: u.gid };
          } catch (err) {
            throw invalid(
              `unable to convert uid/gid chown string to host mapping: ${(err as Error).message}`,
            );
          }
        }
        await copyInto(root, sources, {
          instruction,
          dest,
          owner,
          keepOwners: Boolean(cmd.from) && !chown,
          chmod,
          unpack: cmd.kind === 'add',
        });
      });
    };

    if (cmd.heredocs.length) return run(diskTree(await this.heredocFiles(state, cmd, sourcesText)));
    if (!cmd.from) return run(this.context);
    const from = await this.copyFromImage(cmd.from);
    return this.withRootfs(from, (root) => run(diskTree(root)));
  }

  /**
   * COPY/ADD <<EOF: each heredoc written to a file named after it (0644, as
   * BuildKit makes them), its variables expanded unless the delimiter was quoted.
   */
  private async heredocFiles(
    state: StageState,
    cmd: Extract<Instruction, { kind: 'copy' | 'add' }>,
    sources: string[],
  ): Promise<string> {
    if (cmd.from) throw invalid(`${cmd.kind.toUpperCase()} --from cannot take a heredoc`);
    const byMarker = new Map(cmd.heredocs.map((h) => [h.name, h]));
    const dir = path.join(this.work, 'heredocs', randomBytes(8).toString('hex'));
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    const env = envMap([...(state.config.Env ?? []), ...state.args.filterAllowed(state.config.Env ?? [])]);
    for (const [i, src] of sources.entries()) {
      const marker = heredocMarker(src);
      const doc = marker ? byMarker.get(marker) : undefined;
      if (!doc)
        throw invalid(
          `${cmd.kind.toUpperCase()} with heredocs takes only heredocs as sources in Berth: ${src} is a file`,
        );
      const data = doc.expand ? expandHeredoc(doc.data, env, this.escape) : doc.data;
      await fs.writeFile(path.join(dir, doc.name), data, { mode: 0o644 });
      sources[i] = doc.name;
    }
    return dir;
  }

  private async copyFromImage(from: string): Promise<ImageRecord | undefined> {
    const wrap = (msg: string) => invalid(`invalid from flag value ${from}: ${msg}`);
    const byName = this.stageResults.find((r) => r.name && r.name === from.toLowerCase());
    let id: string | undefined = byName?.imageId;
    if (!byName && /^\d+$/.test(from)) {
      const i = Number(from);
      if (i === this.stageResults.length) throw wrap('refers to current build stage');
      if (i > this.stageResults.length) throw wrap('index out of bounds');
      id = this.stageResults[i]!.imageId;
    }
    if (id !== undefined) return id ? this.deps.store.resolve(id) : undefined;
    try {
      return await this.imageFor(from, this.platform);
    } catch (err) {
      throw wrap((err as Error).message);
    }
  }

  /** ADD of a URL: fetched into the work dir (a clear error when the network cannot reach it). */
  private async download(url: string): Promise<CopySource> {
    const dir = path.join(this.work, 'downloads', String(this.downloads++));
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // Saved under the URL's file name; COPY's rules then place it at the destination.
    const name = path.posix.basename(new URL(url).pathname) || 'download';
    const file = path.join(dir, name);
    let modified: string | undefined;
    try {
      modified = await downloadTo(url, file, this.opts.signal);
    } catch (err) {
      if (err instanceof EngineError) throw err;
      throw invalid(
        `ADD failed: cannot download ${url}: ${(err as Error).message} (is there a network route to it?)`,
      );
    }
    if (modified && !Number.isNaN(Date.parse(modified))) {
      const t = new Date(modified);
      await fs.utimes(file, t, t);
    }
    return { root: dir, rel: name, isDir: false, fromUrl: true };
  }

  // ---- RUN ---------------------------------------------------------------------

  /**
   * RUN's here-documents as BuildKit runs them: a lone heredoc is the script
   * (run from a file when it starts with #!), otherwise the shell gets the
   * command with its heredocs written back after it.
   */
  private heredocCommand(cmd: Extract<Instruction, { kind: 'run' }>): {
    cmdLine: string[];
    script?: Heredoc;
  } {
    const cmdLine = cmd.cmdLine ?? [];
    if (!cmd.heredocs.length) return { cmdLine };
    if (!cmd.prependShell || cmdLine.length !== 1) throw invalid('parsing produced an invalid run command');
    const [first] = cmd.heredocs as [Heredoc];
    const lone = cmd.heredocs.length === 1 && heredocMarker(cmdLine[0]!) === first.name;
    if (!lone) return { cmdLine: [cmdLine[0]! + cmd.heredocs.map((h) => `\n${h.data}${h.name}`).join('')] };
    if (!first.data.startsWith('#!')) return { cmdLine: [first.data] };
    // Written to /dev/pipes when the step runs (scriptBind): a cache hit needs only its text.
    return { cmdLine: [`/dev/pipes/${first.name}`], script: first };
  }

  /** A #! heredoc's file, in a directory bound where BuildKit puts it (a file bind under /dev would need its parent made first). */
  private async scriptBind(script: Heredoc): Promise<StepBind> {
    const dir = path.join(this.work, 'heredocs', randomBytes(8).toString('hex'));
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    await fs.writeFile(path.join(dir, script.name), script.data, { mode: 0o755 });
    return { source: dir, target: '/dev/pipes', readonly: true };
  }

  /** RUN --mount's binds and tmpfs for the step container, and what of them goes into the cache key. */
  private async runMounts(mounts: RunMount[]): Promise<StepMounts> {
    const out: StepMounts = { keys: [], tmpfs: {}, binds: [], stages: [], contextBinds: [] };
    for (const m of mounts) {
      switch (m.type) {
        case 'cache': {
          const dir = path.join(
            this.deps.dataRoot,
            'builder',
            'cache-mounts',
            createHash('sha256').update(m.id).digest('hex').slice(0, 32),
          );
          if (!existsSync(dir)) {
            await fs.mkdir(dir, { recursive: true, mode: m.mode });
            await fs.chmod(dir, m.mode);
            // The owner as the step's processes see it (mapped when the engine remaps users).
            const owner = hostOwner(m.uid, m.gid);
            await fs.chown(dir, owner.uid, owner.gid);
          }
          out.binds.push({ source: dir, target: m.target, readonly: m.readonly });
          out.keys.push(`--mount=type=cache,id=${m.id},target=${m.target}`);
          break;
        }
        case 'tmpfs':
          out.tmpfs[m.target] = m.size ? `size=${m.size}` : '';
          out.keys.push(`--mount=type=tmpfs,target=${m.target}`);
          break;
        case 'bind': {
          if (m.from) {
            const image = await this.copyFromImage(m.from);
            out.stages.push({ image, source: m.source, target: m.target, readwrite: m.readwrite });
            out.keys.push(
              `--mount=type=bind,from=${image?.id ?? 'scratch'},source=${m.source},target=${m.target}`,
            );
            break;
          }
          const rel = insideContext(m.source);
          if (rel === undefined)
            throw invalid(`RUN --mount: source ${m.source} is outside the build context`);
          const sources = await resolveSources(this.context, [rel || '.'], 'COPY', () => {
            throw invalid('RUN --mount: source cannot be a URL');
          });
          const hash = await sourcesHash(sources, this.context);
          // Bound only when the step runs: a cache hit need not unpack the context.
          out.contextBinds.push({ rel, target: m.target, readwrite: m.readwrite });
          out.keys.push(`--mount=type=bind,source=${m.source},target=${m.target}@${hash}`);
          break;
        }
        case 'secret':
        case 'ssh':
          // Only BuildKit's session carries secrets and SSH agents; the classic build API has none.
          if (m.required)
            throw invalid(
              `${m.type} ${m.id} is required, but the classic build API (docker build without buildx) cannot pass ${m.type === 'secret' ? 'secrets' : 'SSH agents'} to Berth`,
            );
          break;
      }
    }
    return out;
  }

  /** A path below root, symlinks resolved, refused when it leads out of root. */
  private async insideRoot(root: string, rel: string): Promise<string> {
    const realRoot = await fs.realpath(root);
    let real: string;
    try {
      real = await fs.realpath(path.join(root, rel));
    } catch {
      throw invalid(`RUN --mount: ${rel || '.'} does not exist`);
    }
    if (real !== realRoot && !real.startsWith(`${realRoot}/`))
      throw invalid(`RUN --mount: ${rel} leads outside its source`);
    return real;
  }

  /** A bind is read-only unless rw is asked for; then it binds a copy, so writes are thrown away as BuildKit's. */
  private async bindSource(source: string, target: string, readwrite: boolean): Promise<StepBind> {
    if (!readwrite) return { source, target, readonly: true };
    const copy = path.join(this.work, 'mount-copies', randomBytes(8).toString('hex'));
    await fs.mkdir(path.dirname(copy), { recursive: true, mode: 0o700 });
    await fs.cp(source, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    return { source: copy, target, readonly: false };
  }

  private async run(
    state: StageState,
    instruction: Extract<Instruction, { kind: 'run' }>,
    x: (w: string) => string,
  ): Promise<void> {
    if (instruction.security === 'insecure')
      throw invalid(
        "RUN --security=insecure needs the security.insecure entitlement, which Berth's builder does not grant",
      );
    if (instruction.network === 'host')
      throw invalid(
        "RUN --network=host needs the network.host entitlement, which Berth's builder does not grant",
      );
    const workdir = state.config.WorkingDir || '/';
    const mounts = await this.runMounts(instruction.mounts.map((m) => parseRunMount(m, x, workdir)));
    const { cmdLine, script } = this.heredocCommand(instruction);
    const cmd = this.commandLine(state, cmdLine, instruction.prependShell);
    const env = state.config.Env ?? [];
    const buildArgs = state.args.filterAllowed(env);
    let saveCmd = cmd;
    const keyed = buildArgs.filter((e) => state.args.inCacheKey(e.split('=')[0]!)).sort();
    if (buildArgs.length > 0) saveCmd = [`|${keyed.length}`, ...keyed, ...cmd];
    // What RUN's result depends on beyond its command: the mounts (a bound source's content) and a heredoc script's text.
    const extraKeys = [...mounts.keys];
    if (instruction.network === 'none') extraKeys.push('--network=none');
    if (script) extraKeys.push(`# heredoc ${createHash('sha256').update(script.data).digest('hex')}`);
    if (extraKeys.length) saveCmd = [...saveCmd, ...extraKeys];
    const cacheConfig: RunConfig = { ...clone(state.config), Cmd: saveCmd };
    if (saveCmd.length > 0) cacheConfig.Entrypoint = null;
    if (await this.probeCache(state, cacheConfig)) return;
    if (!state.imageId) throw invalid('RUN needs a base image with a shell: FROM scratch has nothing to run');

    // Binds from other stages or images need their root filesystems mounted for the step.
    const withStages = async (i: number, binds: StepBind[]): Promise<void> => {
      const stage = mounts.stages[i];
      if (!stage)
        return this.runStep(state, {
          cmd,
          env: [...env, ...buildArgs],
          cacheConfig,
          network: instruction.network,
          tmpfs: mounts.tmpfs,
          binds,
        });
      return this.withRootfs(stage.image, async (root) => {
        const rel = insideContext(stage.source);
        if (rel === undefined) throw invalid(`RUN --mount: source ${stage.source} leads outside its stage`);
        const source = await this.insideRoot(root, rel);
        return withStages(i + 1, [...binds, await this.bindSource(source, stage.target, stage.readwrite)]);
      });
    };
    const scriptBind = script ? [await this.scriptBind(script)] : [];
    const contextBinds: StepBind[] = [];
    if (mounts.contextBinds.length) await this.context.prepare();
    for (const b of mounts.contextBinds)
      contextBinds.push(
        await this.bindSource(await this.insideRoot(this.context.root, b.rel), b.target, b.readwrite),
      );
    return withStages(0, [...mounts.binds, ...contextBinds, ...scriptBind]);
  }

  /** The step container: made, run to its end, and committed when it succeeds. */
  private async runStep(
    state: StageState,
    step: {
      cmd: string[];
      /** The config's Env with the build args. */
      env: string[];
      cacheConfig: RunConfig;
      /** RUN --network: "none" overrides the build's network. */
      network: string;
      tmpfs: Record<string, string>;
      binds: StepBind[];
    },
  ): Promise<void> {
    const { containers } = this.deps;
    const { cmd, cacheConfig, tmpfs, binds } = step;
    const networkMode =
      step.network === 'none'
        ? 'none'
        : !this.opts.networkMode || this.opts.networkMode === 'default'
          ? 'bridge'
          : this.opts.networkMode;
    const body = {
      ...clone(state.config),
      Image: state.imageId,
      Cmd: cmd,
      Env: step.env,
      Entrypoint: cmd.length ? [''] : state.config.Entrypoint,
      Healthcheck: { Test: ['NONE'] },
      OnBuild: null,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: {
        ...this.opts.hostConfig,
        NetworkMode: networkMode,
        LogConfig: { Type: 'none', Config: {} },
        ...(binds.length
          ? {
              Mounts: binds.map((b) => ({
                Type: 'bind',
                Source: b.source,
                Target: b.target,
                ReadOnly: b.readonly,
              })),
            }
          : {}),
        ...(Object.keys(tmpfs).length ? { Tmpfs: tmpfs } : {}),
      },
    };
    const { Id: id } = await containers.create(undefined, body);
    this.out.stream(` ---> Running in ${short(id)}\n`);
    let committed = false;
    try {
      const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
      let closeOutput = () => {};
      const drained = new Promise<void>((resolve) => (closeOutput = resolve));
      const handle = containers.attach(
        id,
        { stdin: false, stdout: true, stderr: true },
        {
          stdout: true,
          stderr: true,
          write: (stream, data) => {
            const text = decoders[stream === 'stderr' ? 'stderr' : 'stdout'].write(data);
            if (text) this.out.stream(text);
          },
          end: () => closeOutput(),
        },
      );
      const waiter = containers.wait(id, 'next-exit');
      const onAbort = () => void containers.kill(id, 'SIGKILL').catch(() => {});
      this.opts.signal.addEventListener('abort', onAbort, { once: true });
      let result: { StatusCode: number; Error?: { Message: string } };
      try {
        this.checkCancelled();
        await containers.start(id);
        if (this.opts.signal.aborted) onAbort();
        result = await waiter.ready;
        await Promise.race([drained, new Promise((r) => setTimeout(r, 1000))]);
      } finally {
        this.opts.signal.removeEventListener('abort', onAbort);
        handle.detach();
      }
      this.checkCancelled();
      if (result.StatusCode !== 0) {
        let msg = `The command '${cmd.join(' ')}' returned a non-zero code: ${result.StatusCode}`;
        if (result.Error?.Message) msg += `: ${result.Error.Message}`;
        throw new BuildStepError(msg, result.StatusCode);
      }
      const upper = this.deps.rootfs.upperDir(id);
      await this.deps.rootfs.unmount(id);
      await dropRuntimeStubs(upper);
      await dropMountStubs(upper, state.image ? this.deps.store.layerDirs(state.image) : [], [
        ...binds.map((b) => b.target),
        ...Object.keys(tmpfs),
      ]);
      const key = this.cacheKeyOf(state, cacheConfig);
      await this.createImage(state, key, cacheConfig, (await isEmptyDir(upper)) ? null : diffTar(upper));
      committed = true;
    } finally {
      // A failed RUN leaves no container behind either, unless the client asked to keep them (--rm=false).
      if (this.opts.forceRemove || this.opts.remove || this.opts.signal.aborted) {
        await containers.remove(id, { force: true, volumes: true }).then(
          () => {
            if (!this.opts.signal.aborted)
              this.out.stream(` ---> Removed intermediate container ${short(id)}\n`);
          },
          (err: unknown) =>
            this.out.stream(`Removing intermediate container ${short(id)}: ${(err as Error).message}\n`),
        );
      } else if (!committed) {
        log.debug('build: keeping the failed step container', { id });
      }
    }
  }
}

/** dockerd's nat.ParsePortSpecs for EXPOSE: "80", "80/udp", "8000-8002/tcp". */
function exposedPorts(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw invalid(`Invalid containerPort: ${spec}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const start = Number(m[1]);
  const end = m[2] ? Number(m[2]) : start;
  if (end < start || end > 65535) throw invalid(`Invalid range specified for the Port: ${spec}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

async function isEmptyDir(dir: string): Promise<boolean> {
  return (await fs.readdir(dir).catch(() => [])).length === 0;
}

/** WORKDIR's directory, made inside the rootfs when missing (root-owned, 0755). */
async function mkdirIn(root: string, dir: string): Promise<void> {
  const cfs = await ContainerFs.open(root);
  try {
    const lk = await cfs.resolve(path.posix.join(dir, '.berth-probe'), {
      followFinal: false,
      mkdirParents: { mode: 0o755, owner: { uid: 0, gid: 0 } },
    });
    await lk.release();
  } finally {
    await cfs.close();
  }
}

/**
 * GET a URL into a new file, following redirects; resolves with Last-Modified.
 * node:http rather than fetch: the engine runs jitless, and undici needs wasm.
 */
function downloadTo(
  url: string,
  file: string,
  signal: AbortSignal,
  redirects = 0,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const get = u.protocol === 'https:' ? https.get : http.get;
    const req = get(u, { signal, timeout: 60_000 }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects < 10) {
        res.resume();
        resolve(downloadTo(new URL(res.headers.location, u).toString(), file, signal, redirects + 1));
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(
          invalid(
            `ADD failed: cannot download ${url}: the server answered ${status} ${res.statusMessage ?? ''}`.trim(),
          ),
        );
        return;
      }
      void (async () => {
        const fh = await fs.open(file, 'wx', 0o600);
        try {
          for await (const chunk of res) await fh.write(chunk as Buffer);
        } finally {
          await fh.close();
        }
      })().then(() => resolve(res.headers['last-modified']), reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/**
 * Take the runtime's mountpoint stubs out of a RUN's upper dir before it
 * becomes a layer: empty files at the bind-mounted /etc paths (what the
 * command wrote there went to the engine's own files, through the mount) and
 * directories left empty, unless they are opaque (the command recreated them).
 */
/**
 * The runtime makes a RUN --mount's target (and its missing parents) in the
 * step's root to mount on; what was not in the image and stayed empty is not
 * part of the step's layer, as with BuildKit.
 */
async function dropMountStubs(upper: string, lowerDirs: string[], targets: string[]): Promise<void> {
  const candidates = new Set<string>();
  for (const target of targets) {
    for (let p = path.posix.normalize(target); p !== '/' && p !== '.'; p = path.posix.dirname(p))
      candidates.add(p);
  }
  const inImage = async (rel: string) => {
    for (const lower of lowerDirs)
      if (
        await fs.lstat(path.join(lower, rel)).then(
          () => true,
          () => false,
        )
      )
        return true;
    return false;
  };
  // Deepest first, so that an emptied parent goes after its child.
  for (const rel of [...candidates].sort((a, b) => b.length - a.length)) {
    const abs = path.join(upper, rel);
    const st = await fs.lstat(abs).catch(() => undefined);
    if (!st || (await inImage(rel))) continue;
    if (st.isFile() && st.size === 0) await fs.unlink(abs).catch(() => {});
    else if (st.isDirectory() && (await isEmptyDir(abs))) await fs.rmdir(abs).catch(() => {});
  }
}

async function dropRuntimeStubs(upper: string): Promise<void> {
  for (const rel of RUNTIME_STUB_FILES) {
    const st = await fs.lstat(path.join(upper, rel)).catch(() => undefined);
    if (st?.isFile() && st.size === 0) await fs.unlink(path.join(upper, rel));
  }
  const dirs = RUNTIME_STUB_DIRS.map((rel) => path.join(upper, rel));
  const opaque = await readOpaque(dirs.filter((d) => existsSync(d)));
  for (const dir of dirs) {
    if (opaque.has(dir)) continue;
    const st = await fs.lstat(dir).catch(() => undefined);
    if (st?.isDirectory() && (await isEmptyDir(dir))) await fs.rmdir(dir).catch(() => {});
  }
}
