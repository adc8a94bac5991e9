// Images as users see them: list, inspect, history, tag, remove (untag vs
// delete, in-use conflicts), load/save, commit, import and prune. The image
// store keeps the bytes; this service adds dockerd's rules and events.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { conflict, invalid, notFound } from '../errors.js';
import { shortId } from '../util/ids.js';
import type { ImageStore, LoadProgress } from '../storage/image-store.js';
import type { ImageConfig, ImageRecord } from '../storage/image-types.js';
import { familiarReference, parseReference } from '../storage/reference.js';
import { diffTar, dirSize } from '../storage/layer-diff.js';
import type { RootfsManager } from '../storage/rootfs.js';
import type { ContainerRecord } from './container-store.js';
import type { EventBus } from './events.js';
import { applyChanges } from './config-changes.js';
import { checkFilterKeys, matchLabels, matchPruneLabels, pruneUntilMs, type Filters } from './filters.js';

export interface ImageServiceDeps {
  store: ImageStore;
  rootfs: RootfsManager;
  events: EventBus;
  dataRoot: string;
  containers: () => ContainerRecord[];
}

/** `docker commit`'s options: the new name, its history entry, and config changes. */
export interface CommitOptions {
  repo?: string;
  tag?: string;
  author?: string;
  comment?: string;
  changes: string[];
  config?: Record<string, unknown>;
}

type DeleteResult = Array<{ Untagged: string } | { Deleted: string }>;

function hostArchitecture(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
}

export class ImageService {
  constructor(private readonly deps: ImageServiceDeps) {}

  get(ref: string): ImageRecord {
    const image = this.deps.store.resolve(ref);
    if (!image) throw notFound(`No such image: ${this.displayRef(ref)}`);
    return image;
  }

  /** "busybox" → "busybox:latest" for messages; ids and digests stay as given. */
  private displayRef(ref: string): string {
    if (/^(sha256:)?[0-9a-f]{1,64}$/.test(ref)) return ref;
    try {
      return familiarReference(ref);
    } catch {
      return ref;
    }
  }

  private event(action: string, id: string, name?: string): void {
    this.deps.events.publish('image', action, id, name ? { name } : {});
  }

  // ---- views -------------------------------------------------------------

  list(opts: { all?: boolean; filters: Filters; containersCount?: boolean }): Array<Record<string, unknown>> {
    const { filters } = opts;
    checkFilterKeys(filters, ['dangling', 'label', 'reference', 'before', 'since', 'until']);
    const dangling = filters.get('dangling');
    const references = filters.get('reference') ?? [];
    const before = filters.get('before')?.map((r) => this.get(r).created);
    const since = filters.get('since')?.map((r) => this.get(r).created);
    const users = this.usage();
    return this.deps.store
      .list()
      .filter((img) => {
        // Build steps' images stay out of sight while an image built on them exists (dockerd's -a).
        if (!opts.all && img.repoTags.length === 0 && this.deps.store.children(img.id).length > 0)
          return false;
        if (dangling?.length) {
          const want = dangling[0] === 'true' || dangling[0] === '1';
          if (want !== (img.repoTags.length === 0)) return false;
        }
        if (!matchLabels(img.config.config?.Labels, filters.get('label'))) return false;
        if (references.length && !img.repoTags.some((t) => references.some((r) => globMatch(r, t))))
          return false;
        if (before?.length && !(img.created < before[0])) return false;
        if (since?.length && !(img.created > since[0])) return false;
        return true;
      })
      .sort((a, b) => (a.created < b.created ? 1 : -1))
      .map((img) => ({
        Id: img.id,
        ParentId: '',
        RepoTags: img.repoTags,
        RepoDigests: img.repoDigests,
        Created: Math.floor(new Date(img.created).getTime() / 1000),
        Size: img.size,
        SharedSize: -1,
        Labels: img.config.config?.Labels ?? {},
        Containers: opts.containersCount ? (users.get(img.id)?.length ?? 0) : -1,
      }));
  }

  inspect(ref: string): Record<string, unknown> {
    const img = this.get(ref);
    const cfg = img.config.config ?? {};
    const history = img.config.history ?? [];
    const layerDirs = this.deps.store.layerDirs(img);
    return {
      Id: img.id,
      RepoTags: img.repoTags,
      RepoDigests: img.repoDigests,
      Parent: img.parent ?? '',
      Comment: history.length ? (history[history.length - 1].comment ?? '') : '',
      Created: img.created,
      DockerVersion: '',
      Author: img.config.author ?? '',
      Config: {
        Hostname: '',
        Domainname: '',
        User: '',
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        Tty: false,
        OpenStdin: false,
        StdinOnce: false,
        Env: null,
        Cmd: null,
        Image: '',
        Volumes: null,
        WorkingDir: '',
        Entrypoint: null,
        OnBuild: null,
        Labels: null,
        ...cfg,
      },
      Architecture: img.config.architecture,
      Os: img.config.os,
      Size: img.size,
      GraphDriver: {
        Name: 'overlay2',
        Data: layerDirs.length
          ? {
              LowerDir: layerDirs.slice(0, -1).reverse().join(':') || undefined,
              UpperDir: layerDirs[layerDirs.length - 1],
            }
          : {},
      },
      RootFS: { Type: 'layers', Layers: img.config.rootfs.diff_ids },
      Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    };
  }

  async history(ref: string): Promise<Array<Record<string, unknown>>> {
    const img = this.get(ref);
    const diffIds = [...img.config.rootfs.diff_ids];
    const entries = img.config.history?.length
      ? img.config.history
      : diffIds.map(() => ({ created: img.created, created_by: '' }));
    const out: Array<Record<string, unknown>> = [];
    let layer = 0;
    for (const entry of entries) {
      let size = 0;
      if (!('empty_layer' in entry && entry.empty_layer) && layer < diffIds.length) {
        const blob = path.join(
          this.deps.dataRoot,
          'image',
          'blobs',
          'sha256',
          diffIds[layer].replace(/^sha256:/, ''),
        );
        size = await fs.stat(blob).then(
          (s) => s.size,
          () => 0,
        );
        layer++;
      }
      out.push({
        Id: '<missing>',
        Created: entry.created ? Math.floor(new Date(entry.created).getTime() / 1000) : 0,
        CreatedBy: entry.created_by ?? '',
        Tags: null,
        Size: size,
        Comment: ('comment' in entry && entry.comment) || '',
      });
    }
    out.reverse();
    if (out.length) {
      out[0].Id = img.id;
      out[0].Tags = img.repoTags.length ? img.repoTags : null;
    }
    return out;
  }

  // ---- tags and removal --------------------------------------------------

  async tag(source: string, repo: string, tag: string | undefined): Promise<void> {
    const img = this.get(source);
    if (!repo) throw invalid('repository name must have at least one component');
    const ref = tag ? `${repo}:${tag}` : repo;
    const parsed = parseReference(ref);
    if (parsed.digest) throw invalid('refusing to create a tag with a digest reference');
    const name = familiarReference(ref);
    await this.deps.store.tag(img.id, name);
    this.event('tag', img.id, name);
  }

  /** Containers (running or not) per image id. */
  private usage(): Map<string, ContainerRecord[]> {
    const map = new Map<string, ContainerRecord[]>();
    for (const c of this.deps.containers()) {
      const list = map.get(c.Image) ?? [];
      list.push(c);
      map.set(c.Image, list);
    }
    return map;
  }

  async remove(ref: string, opts: { force?: boolean; noprune?: boolean }): Promise<DeleteResult> {
    const img = this.get(ref);
    const isId =
      /^(sha256:)?[0-9a-f]{1,64}$/.test(ref) &&
      img.id.replace('sha256:', '').startsWith(ref.replace('sha256:', ''));
    const users = this.usage().get(img.id) ?? [];
    const running = users.find((c) => c.State.Running);
    const result: DeleteResult = [];

    if (!isId) {
      const name = familiarReference(ref);
      const others = img.repoTags.filter((t) => t !== name);
      if (others.length > 0 || (!img.repoTags.includes(name) && img.repoTags.length > 0)) {
        // Only the name goes; the image stays for its other tags.
        await this.deps.store.untag(name);
        this.event('untag', img.id, name);
        return [{ Untagged: name }];
      }
      if (users.length && !opts.force) {
        const user = running ?? users[0];
        throw conflict(
          `conflict: unable to remove repository reference "${ref}" (must force) - container ${shortId(user.Id)} is using its referenced image ${shortId(img.id)}`,
        );
      }
    } else if (img.repoTags.length > 1 && !opts.force) {
      throw conflict(
        `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`,
      );
    }
    if (running) {
      throw conflict(
        `conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container ${shortId(running.Id)}`,
      );
    }
    if (users.length && !opts.force) {
      throw conflict(
        `conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(users[0].Id)}`,
      );
    }
    for (const tag of [...img.repoTags]) {
      await this.deps.store.untag(tag);
      this.event('untag', img.id, tag);
      result.push({ Untagged: tag });
    }
    if (users.length) {
      // Forced removal of an image stopped containers use: dockerd keeps the
      // image (untagged) so that those containers still have their layers.
      return result;
    }
    if (this.deps.store.children(img.id).length > 0) {
      if (result.length) return result;
      throw conflict(
        `conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image has dependent child images`,
      );
    }
    await this.deleteWithParents(img, result, !opts.noprune);
    return result;
  }

  /** Delete an image, then its build-step parents that nothing else names or uses. */
  private async deleteWithParents(img: ImageRecord, result: DeleteResult, prune = true): Promise<void> {
    const used = this.usage();
    for (let next: ImageRecord | undefined = img; next;) {
      const deleted = await this.deps.store.deleteImage(next.id);
      this.event('delete', next.id);
      result.push({ Deleted: next.id });
      for (const d of deleted) if (d !== next.id) result.push({ Deleted: d });
      const parent: ImageRecord | undefined = next.parent ? this.deps.store.resolve(next.parent) : undefined;
      next =
        prune &&
        parent &&
        parent.repoTags.length === 0 &&
        !used.has(parent.id) &&
        this.deps.store.children(parent.id).length === 0
          ? parent
          : undefined;
    }
  }

  async prune(filters: Filters): Promise<{ ImagesDeleted: DeleteResult; SpaceReclaimed: number }> {
    checkFilterKeys(filters, ['dangling', 'label', 'label!', 'until']);
    const danglingOnly = !(filters.get('dangling')?.[0] === 'false' || filters.get('dangling')?.[0] === '0');
    const used = this.usage();
    const until = filters.get('until')?.[0];
    const untilMs = until ? pruneUntilMs(until) : undefined;
    const deleted: DeleteResult = [];
    let reclaimed = 0;
    for (const img of this.deps.store.list()) {
      if (used.has(img.id)) continue;
      if (danglingOnly && img.repoTags.length > 0) continue;
      // Only heads go; their build-step parents follow below.
      if (this.deps.store.children(img.id).length > 0) continue;
      if (!matchPruneLabels(img.config.config?.Labels, filters)) continue;
      if (untilMs !== undefined && new Date(img.created).getTime() >= untilMs) continue;
      for (const tag of img.repoTags) {
        await this.deps.store.untag(tag);
        deleted.push({ Untagged: tag });
      }
      if (!this.deps.store.resolve(img.id)) continue; // already gone as another image's parent
      await this.deleteWithParents(img, deleted);
      reclaimed += img.size;
    }
    this.deps.events.publish('image', 'prune', '', { reclaimed: String(reclaimed) });
    return { ImagesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  // ---- archives, commit, import ------------------------------------------

  async load(archive: NodeJS.ReadableStream, onProgress?: (p: LoadProgress) => void): Promise<string[]> {
    const lines = await this.deps.store.load(archive, onProgress);
    for (const line of lines) {
      const name = line.replace(/^Loaded image( ID)?: /, '');
      const img = this.deps.store.resolve(name);
      this.event('load', img?.id ?? name, name);
    }
    return lines;
  }

  /** Resolves every name first, so that a missing one is a 404 before any byte is sent. */
  resolveForSave(names: string[]): string[] {
    if (names.length === 0) throw invalid('no image names given to save');
    return names.map((n) => {
      this.get(n);
      return n;
    });
  }

  async save(names: string[], out: NodeJS.WritableStream): Promise<void> {
    await this.deps.store.save(names, out);
    for (const n of names) this.event('save', this.get(n).id, n);
  }

  async commit(container: ContainerRecord, image: ImageRecord, opts: CommitOptions): Promise<string> {
    const c = container.Config;
    let cfg: NonNullable<ImageConfig['config']> = {
      ...(image.config.config ?? {}),
      User: c.User ?? '',
      ExposedPorts: c.ExposedPorts ?? undefined,
      Env: c.Env ?? [],
      Cmd: c.Cmd ?? null,
      Entrypoint: c.Entrypoint ?? null,
      Volumes: c.Volumes ?? undefined,
      WorkingDir: c.WorkingDir ?? '',
      Labels: c.Labels ?? undefined,
      StopSignal: c.StopSignal,
      ...(opts.config ?? {}),
    };
    cfg = applyChanges(cfg, opts.changes);
    const now = new Date().toISOString();
    const config: ImageConfig = {
      ...image.config,
      created: now,
      author: opts.author || undefined,
      config: cfg,
      rootfs: { type: 'layers', diff_ids: [...image.config.rootfs.diff_ids] },
      history: [
        ...(image.config.history ?? []),
        {
          created: now,
          created_by: [container.Path, ...container.Args].join(' '),
          ...(opts.author ? { author: opts.author } : {}),
          ...(opts.comment ? { comment: opts.comment } : {}),
        },
      ],
    };
    const tags = opts.repo ? [familiarReference(opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo)] : [];
    const created = await this.deps.store.createFromLayerTar(
      diffTar(this.deps.rootfs.upperDir(container.Id)),
      config,
      tags,
    );
    this.event('commit', created.id, tags[0]);
    return created.id;
  }

  async importTarball(
    body: NodeJS.ReadableStream,
    opts: { repo?: string; tag?: string; message?: string; changes: string[]; platform?: string },
  ): Promise<ImageRecord> {
    const now = new Date().toISOString();
    const config: ImageConfig = {
      architecture: opts.platform?.split('/')[1] || hostArchitecture(),
      os: 'linux',
      created: now,
      config: applyChanges({}, opts.changes),
      rootfs: { type: 'layers', diff_ids: [] },
      history: [{ created: now, created_by: '', comment: opts.message || 'Imported from -' }],
    };
    const tags = opts.repo ? [familiarReference(opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo)] : [];
    const img = await this.deps.store.createFromLayerTar(body, config, tags);
    this.event('import', img.id, tags[0]);
    return img;
  }

  async containerSizes(container: ContainerRecord): Promise<{ SizeRw: number; SizeRootFs: number }> {
    const rw = await dirSize(this.deps.rootfs.upperDir(container.Id)).catch(() => 0);
    const img = this.deps.store.resolve(container.Image);
    return { SizeRw: rw, SizeRootFs: rw + (img?.size ?? 0) };
  }
}

function globMatch(pattern: string, tag: string): boolean {
  const candidates = [tag, tag.replace(/:[^:/]+$/, '')];
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '.') +
      '$',
  );
  return candidates.some((c) => re.test(c));
}
