// /containers/{id}/exec and /exec/{id}/…
import type { Engine } from '../../engine/engine.js';
import { pumpStdin } from '../stdin-pump.js';
import { invalid } from '../../errors.js';
import {
  openRawStream,
  queryInt,
  readJsonBody,
  readUpgradeBody,
  replyJson,
  replyStatus,
} from '../http-io.js';
import type { RequestContext, Router } from '../router.js';
import { streamContentType, streamSink } from './containers.js';

interface ExecStartBody {
  Detach?: boolean;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
}

async function startExec(engine: Engine, ctx: RequestContext): Promise<void> {
  const { body, rest } = ctx.upgrade
    ? await readUpgradeBody(ctx)
    : { body: await readJsonBody(ctx), rest: Buffer.alloc(0) };
  const start = (body ?? {}) as ExecStartBody;
  if (typeof start !== 'object') throw invalid('exec start config must be a JSON object');
  const exec = engine.execs.get(ctx.params.id);
  const consoleSize = Array.isArray(start.ConsoleSize) ? start.ConsoleSize : undefined;
  if (start.Detach) {
    await engine.execs.start(exec.id, { detach: true, tty: start.Tty, consoleSize });
    replyStatus(ctx, 200);
    return;
  }
  const tty = start.Tty ?? exec.config.Tty;
  // Validate before the connection is taken over, so errors are plain HTTP.
  engine.execs.assertStartable(exec.id);
  const raw = openRawStream(ctx, streamContentType(ctx, tty));
  // Input is wired before the process starts: the client streams stdin right
  // after the switch, and the exec's hub holds it until the process exists.
  if (raw.input && exec.config.AttachStdin) {
    if (rest.length) engine.execs.writeStdin(exec.id, rest);
    pumpStdin(
      raw.input,
      {
        write: (data) => engine.execs.writeStdin(exec.id, data),
        whenDrained: (resume) => engine.execs.whenStdinDrained(exec.id, resume),
      },
      { onEnd: () => engine.execs.endStdin(exec.id) },
    );
  }
  const want = {
    stdout: exec.config.AttachStdout || !ctx.upgrade,
    stderr: exec.config.AttachStderr || !ctx.upgrade,
  };
  const handle = await engine.execs.start(
    exec.id,
    { detach: false, tty, consoleSize },
    streamSink(raw, tty, want),
  );
  await Promise.race([handle.done, raw.closed]);
}

export function registerExecRoutes(router: Router, engine: Engine): void {
  router
    .add('POST', '/containers/{id}/exec', async (ctx) => {
      const body = (await readJsonBody(ctx)) as Record<string, unknown> | null;
      replyJson(ctx, 201, engine.execs.create(ctx.params.id, body));
    })
    .add('POST', '/exec/{id}/start', (ctx) => startExec(engine, ctx))
    .add('POST', '/exec/{id}/resize', (ctx) => {
      engine.execs.resize(ctx.params.id, queryInt(ctx.query, 'w') ?? 0, queryInt(ctx.query, 'h') ?? 0);
      replyStatus(ctx, 200);
    })
    .add('GET', '/exec/{id}/json', (ctx) => replyJson(ctx, 200, engine.execs.inspect(ctx.params.id)));
}
