// docker inspect: containers, images, volumes and networks, as one JSON array
// (4-space indent) or a --format template per object.
import type { CommandContext, CommandHandler } from '../command-context.js';
import { asString, CliError, daemonMessage, isNotFound } from '../command-context.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { parseTemplate } from '../output/template.js';

type Kind = 'container' | 'image' | 'volume' | 'network';
const KINDS: Kind[] = ['container', 'image', 'network', 'volume'];

async function fetchOne(ctx: CommandContext, kind: Kind, ref: string, size: boolean): Promise<unknown> {
  switch (kind) {
    case 'container':
      return ctx.docker.getContainer(ref).inspect({ size } as object);
    case 'image':
      return ctx.docker.getImage(ref).inspect();
    case 'volume':
      return ctx.docker.getVolume(ref).inspect();
    case 'network':
      return ctx.docker.getNetwork(ref).inspect();
  }
}

/**
 * Prints the objects; for the missing ones "Error: No such object: x" (top-level
 * inspect) or, with daemonErrors (volume inspect, network inspect), the daemon's message.
 */
export async function inspectObjects(
  ctx: CommandContext,
  refs: string[],
  kinds: Kind[],
  format: string | undefined,
  size = false,
  daemonErrors = false,
): Promise<number> {
  if (!refs.length) throw new UsageError('requires at least 1 argument');
  const found: unknown[] = [];
  const missing: string[] = [];
  for (const ref of refs) {
    let value: unknown;
    let lastError: unknown;
    for (const kind of kinds) {
      try {
        value = await fetchOne(ctx, kind, ref, size);
        break;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        lastError = err;
      }
    }
    if (value === undefined)
      missing.push(daemonErrors ? `Error response from daemon: ${daemonMessage(lastError)}` : ref);
    else found.push(value);
  }
  const tmpl = format ? parseTemplate(format === 'json' ? '{{json .}}' : format) : undefined;
  if (tmpl) for (const v of found) ctx.io.stdout.write(`${tmpl.execute(v)}\n`);
  else ctx.io.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  if (missing.length) {
    const what =
      kinds.length === 1
        ? { container: 'container', image: 'image', volume: 'volume', network: 'network' }[kinds[0]]
        : 'object';
    throw new CliError(missing.map((m) => (daemonErrors ? m : `Error: No such ${what}: ${m}`)).join('\n'));
  }
  return 0;
}

export const inspect: CommandHandler = async (ctx, argv) => {
  const { flags: f, positionals } = parseFlags(argv, {
    format: { short: 'f', value: true },
    type: { value: true },
    size: { short: 's' },
  });
  const type = asString(f.type);
  if (type !== undefined && !KINDS.includes(type as Kind))
    throw new UsageError(`"${type}" is not a valid value for --type`);
  // With --type the docker CLI passes the daemon's own message on.
  return inspectObjects(
    ctx,
    positionals,
    type ? [type as Kind] : KINDS,
    asString(f.format),
    f.size === true,
    !!type,
  );
};
