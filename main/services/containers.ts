// Containers: the list, lifecycle actions, the run line, and the files inside.
import type Docker from 'dockerode';
import { extract } from 'tar-stream';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { PassThrough } from 'node:stream';
import type { ContainerRow, FileEntry } from '../../common/desktop-api.js';
import { DesktopFailure } from '../errors.js';
import { toContainerRow } from './container-rows.js';
import { dockerRunLine } from './run-line.js';

export class ContainersService {
  constructor(private readonly docker: Docker) {}

  async list(): Promise<ContainerRow[]> {
    return (await this.docker.listContainers({ all: true })).map(toContainerRow);
  }

  /** One container's row, or undefined once it is gone. */
  async row(id: string): Promise<ContainerRow | undefined> {
    const [c] = await this.docker.listContainers({ all: true, filters: { id: [id] } });
    return c ? toContainerRow(c) : undefined;
  }

  inspect(id: string): Promise<Docker.ContainerInspectInfo> {
    return this.docker.getContainer(id).inspect();
  }

  async start(id: string): Promise<void> {
    await this.docker.getContainer(id).start();
  }
  async stop(id: string): Promise<void> {
    await this.docker.getContainer(id).stop();
  }
  async restart(id: string): Promise<void> {
    await this.docker.getContainer(id).restart();
  }
  async pause(id: string): Promise<void> {
    await this.docker.getContainer(id).pause();
  }
  async unpause(id: string): Promise<void> {
    await this.docker.getContainer(id).unpause();
  }
  async kill(id: string): Promise<void> {
    await this.docker.getContainer(id).kill();
  }
  async remove(id: string, force = false): Promise<void> {
    await this.docker.getContainer(id).remove({ force });
  }

  async runLine(id: string): Promise<string> {
    const c = await this.inspect(id);
    const image = await this.docker
      .getImage(c.Config.Image)
      .inspect()
      .catch(() => undefined);
    return dockerRunLine(c, image?.Config?.Env ?? []);
  }

  /**
   * The entries of one folder inside the container: from `stat` in the
   * container when it runs and has a shell (one level only, however big the
   * tree below), else from the archive API (any container, but it streams the
   * whole subtree).
   */
  async files(id: string, dir: string): Promise<FileEntry[]> {
    if (!dir.startsWith('/')) throw new DesktopFailure(`path must be absolute: ${dir}`, 400);
    const viaStat = await this.filesViaStat(id, dir).catch(() => undefined);
    return viaStat ?? this.filesViaArchive(id, dir);
  }

  private async filesViaStat(id: string, dir: string): Promise<FileEntry[] | undefined> {
    const c = this.docker.getContainer(id);
    const info = await c.inspect();
    if (!info.State.Running) return undefined;
    // %F type, %s size, %f raw mode (hex), %Y mtime, %N quoted name with link target.
    const script =
      'cd -- "$1" || exit 3; for f in * .[!.]* ..?*; do [ -e "$f" ] || [ -L "$f" ] || continue; ' +
      'stat -c "%F|%s|%f|%Y|%n" -- "$f" || exit 4; done';
    const exec = await c.exec({
      Cmd: ['sh', '-c', script, 'ls', dir],
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (d: Buffer) => chunks.push(d));
    this.docker.modem.demuxStream(stream, out, new PassThrough().resume());
    await new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    const { ExitCode } = await exec.inspect();
    if (ExitCode === 3) throw new DesktopFailure(`${dir} is not a folder in the container`, 404);
    if (ExitCode !== 0) return undefined;
    const entries: FileEntry[] = [];
    for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
      const [kind, size, mode, mtime, ...name] = line.split('|');
      if (!name.length) continue;
      entries.push({
        name: name.join('|'),
        type:
          kind === 'directory'
            ? 'dir'
            : kind.startsWith('regular')
              ? 'file'
              : kind === 'symbolic link'
                ? 'symlink'
                : 'other',
        size: Number(size),
        mode: parseInt(mode, 16) & 0o7777,
        mtime: Number(mtime) * 1000,
      });
    }
    return sortEntries(entries);
  }

  private async filesViaArchive(id: string, dir: string): Promise<FileEntry[]> {
    const tar = (await this.docker.getContainer(id).getArchive({ path: dir })) as unknown as Readable;
    const entries: FileEntry[] = [];
    const ex = extract();
    let root: string | undefined;
    let notDir = false;
    ex.on('entry', (header, stream, next) => {
      stream.resume();
      stream.on('end', next);
      const name = header.name.replace(/\/$/, '');
      if (root === undefined) {
        // The archive's first entry is the folder itself, named by its basename.
        root = name;
        if (header.type !== 'directory') notDir = true;
        return;
      }
      const rel = name.slice(root.length + 1);
      if (!rel || rel.includes('/')) return; // deeper than one level
      entries.push({
        name: rel,
        type:
          header.type === 'directory'
            ? 'dir'
            : header.type === 'file' || header.type === 'contiguous-file'
              ? 'file'
              : header.type === 'symlink'
                ? 'symlink'
                : 'other',
        size: header.size ?? 0,
        mode: header.mode ?? 0,
        mtime: header.mtime?.getTime() ?? 0,
        linkTarget: header.linkname ?? undefined,
      });
    });
    await new Promise<void>((resolve, reject) => {
      ex.on('finish', resolve);
      ex.on('error', reject);
      tar.on('error', reject);
      tar.pipe(ex);
    });
    if (notDir) throw new DesktopFailure(`${dir} is not a folder`, 400);
    return sortEntries(entries);
  }

  /** A tar of one path inside the container, for download. */
  async download(id: string, p: string): Promise<Readable> {
    if (!p.startsWith('/')) throw new DesktopFailure(`path must be absolute: ${p}`, 400);
    return (await this.docker.getContainer(id).getArchive({ path: p })) as unknown as Readable;
  }

  /** Puts one uploaded file into a folder of the container. */
  async upload(id: string, dir: string, name: string, content: Buffer): Promise<void> {
    if (!dir.startsWith('/')) throw new DesktopFailure(`path must be absolute: ${dir}`, 400);
    if (!name || name.includes('/') || name === '.' || name === '..')
      throw new DesktopFailure(`not a file name: ${name}`, 400);
    const p = pack();
    p.entry(
      { name: path.posix.basename(name), size: content.length, mode: 0o644, mtime: new Date() },
      content,
    );
    p.finalize();
    await this.docker.getContainer(id).putArchive(p as unknown as NodeJS.ReadableStream, { path: dir });
  }
}

/** Folders first, then by name. */
function sortEntries(entries: FileEntry[]): FileEntry[] {
  return entries.sort((a, b) =>
    (a.type === 'dir') === (b.type === 'dir') ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1,
  );
}
