// `berth context install [--use] [--host H]`: a docker context named "berth"
// pointing at Berth's engine socket, in the docker CLI's own context store,
// so docker and every tool that reads docker contexts reach Berth. Also
// `context use NAME`, `context show` and `context ls`.
import type { CommandHandler } from '../command-context.js';
import { asString, CliError } from '../command-context.js';
import {
  readContext,
  readDockerConfig,
  setCurrentContext,
  writeContext,
  contextMetaPath,
} from '../docker-contexts.js';
import { berthSocket, parseHost } from '../engine-endpoint.js';
import { parseFlags, UsageError } from '../flag-parser.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const BERTH_CONTEXT = 'berth';

export const contextCommand: CommandHandler = async (ctx, argv) => {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'install': {
      const { flags: f, positionals } = parseFlags(rest, { use: {}, host: { value: true } });
      if (positionals.length) throw new UsageError('accepts no arguments');
      const host = parseHost(asString(f.host) ?? `unix://${berthSocket(ctx.env)}`, '--host').host;
      const existed = readContext(BERTH_CONTEXT, ctx.env) !== undefined;
      const file = await writeContext(
        {
          Name: BERTH_CONTEXT,
          Metadata: { Description: 'Berth' },
          Endpoints: { docker: { Host: host, SkipTLSVerify: false } },
        },
        ctx.env,
      );
      ctx.io.stdout.write(
        `${existed ? 'Updated' : 'Created'} docker context "${BERTH_CONTEXT}" → ${host} (${file})\n`,
      );
      if (f.use === true) {
        await setCurrentContext(BERTH_CONTEXT, ctx.env);
        ctx.io.stdout.write(`Current context is now "${BERTH_CONTEXT}"\n`);
      } else {
        ctx.io.stdout.write(
          `Use it with: docker --context ${BERTH_CONTEXT} …, or berth context use ${BERTH_CONTEXT}\n`,
        );
      }
      return 0;
    }
    case 'use': {
      const { positionals } = parseFlags(rest, {});
      if (positionals.length !== 1) throw new UsageError('requires exactly 1 argument');
      const name = positionals[0];
      if (name !== 'default' && !readContext(name, ctx.env))
        throw new CliError(`context "${name}" does not exist`);
      await setCurrentContext(name, ctx.env);
      ctx.io.stdout.write(`${name}\n`);
      return 0;
    }
    case 'show': {
      const current = readDockerConfig(ctx.env).currentContext;
      ctx.io.stdout.write(
        `${ctx.env.DOCKER_CONTEXT || (typeof current === 'string' && current) || 'default'}\n`,
      );
      return 0;
    }
    case 'ls':
    case 'list': {
      const current = (readDockerConfig(ctx.env).currentContext as string | undefined) || 'default';
      const metaDir = path.dirname(path.dirname(contextMetaPath('x', ctx.env)));
      const names = ['default'];
      for (const d of await fs.readdir(metaDir).catch(() => [] as string[])) {
        const meta = JSON.parse(
          await fs.readFile(path.join(metaDir, d, 'meta.json'), 'utf8').catch(() => '{}'),
        ) as { Name?: string };
        if (meta.Name) names.push(meta.Name);
      }
      ctx.io.stdout.write('NAME\tDOCKER ENDPOINT\n'.replace('\t', '   '));
      for (const n of names) {
        const host =
          n === 'default'
            ? `unix://${berthSocket(ctx.env)}`
            : (readContext(n, ctx.env)?.Endpoints.docker?.Host ?? '');
        ctx.io.stdout.write(`${n}${n === current ? ' *' : ''}   ${host}\n`);
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown context command: "${sub ?? ''}" (install, use, show, ls)`);
  }
};
