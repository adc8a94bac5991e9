// /containers/{id}/archive: `docker cp` in both directions (HEAD/GET/PUT);
// /containers/{id}/export: the container's root filesystem as a tar.
import type { Engine } from '../../engine/engine.js';
import { invalid, notFound } from '../../errors.js';
import { resolveUser } from '../../runtime/user.js';
import { archivePath, extractArchive, PathNotFoundError, statPath } from '../../volumes/container-archive.js';
import { queryBool } from '../http-io.js';
import type { RequestContext, Router } from '../router.js';

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

/** dockerd's wording for a missing path names the container. */
function reword(err: unknown, name: string): unknown {
  return err instanceof PathNotFoundError
    ? notFound(`Could not find the file ${err.path} in container ${name}`)
    : err;
}

async function withFs<T>(
  engine: Engine,
  ctx: RequestContext,
  fn: (fs: Awaited<ReturnType<Engine['openContainerFs']>>, path: string) => Promise<T>,
): Promise<T> {
  const p = ctx.query.get('path');
  if (!p) throw invalid('path is required: the path inside the container to copy');
  const fs = await engine.openContainerFs(ctx.params.id);
  try {
    return await fn(fs, p);
  } catch (err) {
    await fs.release();
    throw reword(err, fs.record.Name.slice(1));
  }
}

export function registerArchiveRoutes(router: Router, engine: Engine): void {
  const stat = (ctx: RequestContext, head: boolean) =>
    withFs(engine, ctx, async (fs, p) => {
      const st = await statPath(fs.root, fs.mounts, p);
      ctx.res!.setHeader(STAT_HEADER, Buffer.from(JSON.stringify(st)).toString('base64'));
      if (head) {
        await fs.release();
        ctx.res!.writeHead(200).end();
        return;
      }
      const tar = await archivePath(fs.root, fs.mounts, p, {
        followLink: queryBool(ctx.query, 'followLink'),
      });
      ctx.res!.writeHead(200, { 'Content-Type': 'application/x-tar' });
      tar.on('error', () => ctx.res!.destroy());
      tar.pipe(ctx.res!);
      await new Promise<void>((resolve) => ctx.res!.once('close', () => resolve()));
      await fs.release();
    });
  router
    .add('GET', '/containers/{id}/export', async (ctx) => {
      const rootfs = await engine.openContainerRootfs(ctx.params.id);
      try {
        const tar = await archivePath(rootfs.root, [], '/', { bareRoot: true });
        ctx.res!.writeHead(200, { 'Content-Type': 'application/x-tar' });
        tar.on('error', () => ctx.res!.destroy());
        tar.pipe(ctx.res!);
        await new Promise<void>((resolve) => ctx.res!.once('close', () => resolve()));
      } finally {
        await rootfs.release();
      }
    })
    .add('HEAD', '/containers/{id}/archive', (ctx) => stat(ctx, true))
    .add('GET', '/containers/{id}/archive', (ctx) => stat(ctx, false))
    .add('PUT', '/containers/{id}/archive', (ctx) =>
      withFs(engine, ctx, async (fs, p) => {
        const copyUIDGID = queryBool(ctx.query, 'copyUIDGID');
        await extractArchive(fs.root, fs.mounts, p, ctx.req, {
          noOverwriteDirNonDir: queryBool(ctx.query, 'noOverwriteDirNonDir'),
          copyUIDGID,
          // As dockerd: a container without a user keeps the archive's own owners even with copyUIDGID.
          chown:
            copyUIDGID && fs.record.Config.User
              ? await resolveUser(fs.root, fs.record.Config.User)
              : undefined,
          readonlyRootfs: fs.record.HostConfig.ReadonlyRootfs ?? false,
        });
        await fs.release();
        ctx.res!.writeHead(200).end();
      }),
    );
}
