// Image commands: images, pull, push, tag, rmi, save, load, build, history,
// commit — with the docker CLI's tables and progress output.
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import {
  asList,
  asString,
  CliError,
  defined,
  eachTarget,
  filtersOf,
  type CommandContext,
  type CommandHandler,
} from '../command-context.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { formatList } from '../output/list-format.js';
import { goTime, humanSize, shortId, since, ellipsis } from '../output/human.js';
import { showProgress } from '../output/progress.js';
import { contextTar } from '../../compose/build-context.js';
import { authFor } from '../registry-auth.js';
import { engineStream } from '../engine-http.js';

const IMAGE_HEADERS = {
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  ID: 'IMAGE ID',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
  VirtualSize: 'VIRTUAL SIZE',
};

/** "repo:tag" → [repo, tag], the tag after the last colon that follows the last slash. */
export function splitReference(ref: string): [string, string] {
  const at = ref.indexOf('@');
  const base = at < 0 ? ref : ref.slice(0, at);
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) return [base.slice(0, colon), base.slice(colon + 1)];
  return [base, at < 0 ? 'latest' : ''];
}

/** The `docker images` rows of one image: one per tag, or one <none> row. */
function imageRows(img: Docker.ImageInfo, trunc: boolean): Record<string, unknown>[] {
  const digests = img.RepoDigests ?? [];
  const base = {
    ID: trunc ? shortId(img.Id) : img.Id,
    CreatedSince: since(img.Created),
    CreatedAt: goTime(img.Created * 1000),
    Size: humanSize(img.Size),
    VirtualSize: humanSize(img.VirtualSize ?? img.Size, 4),
    Containers: img.Containers === undefined || img.Containers < 0 ? 'N/A' : String(img.Containers),
    SharedSize: img.SharedSize === undefined || img.SharedSize < 0 ? 'N/A' : humanSize(img.SharedSize),
    UniqueSize: 'N/A',
  };
  const digestOf = (repo: string) => digests.find((d) => d.startsWith(`${repo}@`))?.split('@')[1] ?? '<none>';
  const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
  if (tags.length)
    return tags.map((t) => {
      const [repo, tag] = splitReference(t);
      return { Repository: repo, Tag: tag, Digest: digestOf(repo), ...base };
    });
  if (digests.length)
    return digests.map((d) => ({
      Repository: d.split('@')[0],
      Tag: '<none>',
      Digest: d.split('@')[1],
      ...base,
    }));
  return [{ Repository: '<none>', Tag: '<none>', Digest: '<none>', ...base }];
}

const images: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    all: { short: 'a' },
    quiet: { short: 'q' },
    digests: {},
    'no-trunc': {},
    filter: { short: 'f', value: true, multiple: true },
    format: { value: true },
  });
  if (positionals.length > 1) throw new UsageError('requires at most 1 argument');
  const filters = filtersOf(f.filter) ?? {};
  if (positionals[0]) filters.reference = [...(filters.reference ?? []), positionals[0]];
  const list = await ctx.docker.listImages({
    all: f.all === true,
    filters: JSON.stringify(filters),
    digests: f.digests === true,
  } as Docker.ListImagesOptions);
  const rows = list.flatMap((img) => imageRows(img, f['no-trunc'] !== true));
  const table =
    f.digests === true
      ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
      : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
  let out = formatList(
    rows,
    { defaultTable: table, headers: IMAGE_HEADERS, quietField: 'ID' },
    { format: asString(f.format), quiet: f.quiet === true },
  );
  // -q names each image once, as docker does.
  if (f.quiet === true) out = [...new Set(out.split('\n').filter(Boolean))].map((l) => `${l}\n`).join('');
  ctx.io.stdout.write(out);
  return 0;
};

function normalizedName(ref: string): string {
  const [repo, tag] = splitReference(ref);
  const first = repo.split('/')[0];
  const hasRegistry =
    repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const full = hasRegistry ? repo : repo.includes('/') ? `docker.io/${repo}` : `docker.io/library/${repo}`;
  return ref.includes('@') ? `${full}@${ref.split('@')[1]}` : `${full}:${tag}`;
}

const pull: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    quiet: { short: 'q' },
    'all-tags': { short: 'a' },
    platform: { value: true },
  });
  if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
  let ref = positionals[0];
  const quiet = f.quiet === true;
  if (!ref.includes('@') && !ref.slice(ref.lastIndexOf('/') + 1).includes(':') && f['all-tags'] !== true) {
    if (!quiet) ctx.io.stdout.write('Using default tag: latest\n');
    ref = `${ref}:latest`;
  }
  const stream = await pullStream(ctx, ref, asString(f.platform));
  await showProgress(stream, ctx.io.stdout, { quiet });
  ctx.io.stdout.write(`${normalizedName(ref)}\n`);
  return 0;
};

/**
 * POST /images/create with the registry credentials in X-Registry-Auth only
 * (dockerode's pull would also put them in the query string, which servers log).
 */
export async function pullStream(
  ctx: CommandContext,
  ref: string,
  platform?: string,
): Promise<NodeJS.ReadableStream> {
  const [repo, tag] = splitReference(ref);
  const query = new URLSearchParams(ref.includes('@') ? { fromImage: ref } : { fromImage: repo, tag });
  if (platform) query.set('platform', platform);
  const auth = Buffer.from(JSON.stringify(authFor(ref, ctx.env))).toString('base64url');
  return engineStream(ctx.endpoint, 'POST', `/images/create?${query.toString()}`, {
    'X-Registry-Auth': auth,
  });
}

const push: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, { quiet: { short: 'q' }, 'all-tags': { short: 'a' } });
  if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
  let ref = positionals[0];
  if (!ref.slice(ref.lastIndexOf('/') + 1).includes(':') && f['all-tags'] !== true) {
    ctx.io.stdout.write('Using default tag: latest\n');
    ref = `${ref}:latest`;
  }
  const [repo, tag] = splitReference(ref);
  const stream = (await ctx.docker.getImage(repo).push(
    defined({
      tag: f['all-tags'] === true ? undefined : tag,
      authconfig: authFor(repo, ctx.env),
    }) as object,
  )) as NodeJS.ReadableStream;
  await showProgress(stream, ctx.io.stdout, { quiet: f.quiet === true });
  if (f.quiet === true) ctx.io.stdout.write(`${ref}\n`);
  return 0;
};

const tag: CommandHandler = async (ctx, argv) => {
  const { positionals } = parseFlags(argv, {});
  if (positionals.length !== 2) throw new UsageError('requires exactly 2 arguments');
  const [repo, t] = splitReference(positionals[1]);
  await ctx.docker.getImage(positionals[0]).tag({ repo, tag: t });
  return 0;
};

const rmi: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, { force: { short: 'f' }, 'no-prune': {} });
  return eachTarget(ctx, positionals, async (ref) => {
    const items = (await ctx.docker
      .getImage(ref)
      .remove({ force: f.force === true, noprune: f['no-prune'] === true })) as Array<{
      Untagged?: string;
      Deleted?: string;
    }>;
    return (
      items.map((i) => (i.Untagged ? `Untagged: ${i.Untagged}` : `Deleted: ${i.Deleted}`)).join('\n') ||
      undefined
    );
  });
};

function dialStream(
  ctx: CommandContext,
  opts: { path: string; method: string; options?: object },
): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    ctx.docker.modem.dial(
      {
        ...opts,
        isStream: true,
        statusCodes: { 200: true, 400: 'bad request', 404: 'not found', 500: 'server error' },
      },
      (err: unknown, s: unknown) => (err ? reject(err) : resolve(s as NodeJS.ReadableStream)),
    );
  });
}

const save: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    output: { short: 'o', value: true },
    platform: { value: true },
  });
  if (!positionals.length) throw new UsageError('requires at least 1 argument');
  const file = asString(f.output);
  if (!file && (ctx.io.stdout as { isTTY?: boolean }).isTTY)
    throw new CliError('Cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const stream = await dialStream(ctx, {
    path: '/images/get?',
    method: 'GET',
    options: { names: positionals },
  });
  if (file) {
    const tmp = `${file}.${process.pid}.tmp`;
    await pipeline(stream, createWriteStream(tmp));
    await fs.rename(tmp, file);
  } else await pipeline(stream, ctx.io.stdout);
  return 0;
};

const load: CommandHandler = async (ctx, argv) => {
  const { flags: f } = parseFlags(argv, {
    input: { short: 'i', value: true },
    quiet: { short: 'q' },
    platform: { value: true },
  });
  const file = asString(f.input);
  if (!file && (ctx.io.stdin as { isTTY?: boolean }).isTTY)
    throw new CliError('requested load from stdin, but stdin is empty');
  const input = file ? createReadStream(file) : (ctx.io.stdin as NodeJS.ReadableStream);
  const quiet = f.quiet === true || !(ctx.io.stdout as { isTTY?: boolean }).isTTY;
  const stream = (await ctx.docker.loadImage(
    input as NodeJS.ReadableStream,
    { quiet } as object,
  )) as NodeJS.ReadableStream;
  await showProgress(stream, ctx.io.stdout);
  return 0;
};

const build: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    tag: { short: 't', value: true, multiple: true },
    file: { short: 'f', value: true },
    'build-arg': { value: true, multiple: true },
    target: { value: true },
    'no-cache': {},
    pull: {},
    quiet: { short: 'q' },
    label: { value: true, multiple: true },
    iidfile: { value: true },
    network: { value: true },
    platform: { value: true },
    rm: {},
    'force-rm': {},
  });
  if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
  const dir = path.resolve(positionals[0]);
  if (!(await fs.stat(dir).catch(() => undefined))?.isDirectory())
    throw new CliError(`unable to prepare context: path "${positionals[0]}" not found`);
  const buildArgs: Record<string, string> = {};
  for (const a of asList(f['build-arg'])) {
    const eq = a.indexOf('=');
    const key = eq < 0 ? a : a.slice(0, eq);
    const value = eq < 0 ? ctx.env[key] : a.slice(eq + 1);
    if (value !== undefined) buildArgs[key] = value;
  }
  const labels = Object.fromEntries(
    asList(f.label).map((l) => [l.split('=')[0], l.slice(l.indexOf('=') + 1)]),
  );
  let dockerfile = asString(f.file);
  if (dockerfile) {
    const abs = path.resolve(dockerfile);
    dockerfile = path.relative(dir, abs);
    if (dockerfile.startsWith('..')) throw new CliError('the Dockerfile must be inside the build context');
  }
  const quiet = f.quiet === true;
  const stream = (await ctx.docker.buildImage(
    // As the docker CLI sends it: .dockerignore applied here, the Dockerfile and .dockerignore always in.
    await contextTar(dir, dockerfile || 'Dockerfile'),
    defined({
      t: asList(f.tag),
      dockerfile,
      buildargs: buildArgs,
      target: asString(f.target),
      nocache: f['no-cache'] === true,
      pull: f.pull === true ? '1' : undefined,
      q: quiet,
      labels,
      networkmode: asString(f.network),
    }) as unknown as Docker.ImageBuildOptions,
  )) as NodeJS.ReadableStream;
  // With -q the engine sends only the image ID, as a line of output.
  const id = await showProgress(stream, ctx.io.stdout);
  const iidfile = asString(f.iidfile);
  if (iidfile && id) await fs.writeFile(iidfile, id);
  return 0;
};

const history: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    quiet: { short: 'q' },
    'no-trunc': {},
    human: { short: 'H', value: true },
    format: { value: true },
  });
  if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
  const items = (await ctx.docker.getImage(positionals[0]).history()) as Array<{
    Id: string;
    Created: number;
    CreatedBy: string;
    Size: number;
    Comment: string;
  }>;
  const trunc = f['no-trunc'] !== true;
  const rows = items.map((h) => ({
    ID: h.Id === '<missing>' ? '<missing>' : trunc ? shortId(h.Id) : h.Id,
    CreatedSince: since(h.Created),
    CreatedAt: goTime(h.Created * 1000),
    CreatedBy: trunc ? ellipsis(h.CreatedBy.replace(/\s+/g, ' '), 45) : h.CreatedBy,
    Size: humanSize(h.Size),
    Comment: h.Comment,
  }));
  ctx.io.stdout.write(
    formatList(
      rows,
      {
        defaultTable: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
        headers: {
          ID: 'IMAGE',
          CreatedSince: 'CREATED',
          CreatedAt: 'CREATED AT',
          CreatedBy: 'CREATED BY',
          Size: 'SIZE',
          Comment: 'COMMENT',
        },
        quietField: 'ID',
      },
      { format: asString(f.format), quiet: f.quiet === true },
    ),
  );
  return 0;
};

const commit: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    author: { short: 'a', value: true },
    message: { short: 'm', value: true },
    change: { short: 'c', value: true, multiple: true },
    pause: { short: 'p', value: true },
  });
  const [id, ref] = positionals;
  if (!id || positionals.length > 2) throw new UsageError('requires at least 1 and at most 2 arguments');
  const [repo, t] = ref ? splitReference(ref) : [undefined, undefined];
  const r = (await ctx.docker.getContainer(id).commit(
    defined({
      repo,
      tag: t,
      author: asString(f.author),
      comment: asString(f.message),
      changes: asList(f.change),
      pause: f.pause !== 'false',
    }) as object,
  )) as { Id: string };
  ctx.io.stdout.write(`${r.Id}\n`);
  return 0;
};

export const imageCommands: Record<string, CommandHandler> = {
  images,
  pull,
  push,
  tag,
  rmi,
  save,
  load,
  build,
  history,
  commit,
};
