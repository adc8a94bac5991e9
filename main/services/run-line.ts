// The `docker run` line that makes a container like this one again, from its
// inspect data: the flags a user set, not every default the engine filled in.
import type Docker from 'dockerode';

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function dockerRunLine(c: Docker.ContainerInspectInfo, imageEnv: string[] = []): string {
  const args: string[] = ['docker', 'run', '-d'];
  const hc = c.HostConfig ?? ({} as Docker.HostConfig);
  const cfg = c.Config;
  const name = c.Name?.replace(/^\//, '');
  if (name) args.push('--name', name);
  if (cfg.Hostname && cfg.Hostname !== c.Id.slice(0, 12)) args.push('--hostname', cfg.Hostname);
  if (cfg.User) args.push('--user', cfg.User);
  if (cfg.Tty) args.push('-t');
  if (cfg.OpenStdin) args.push('-i');
  if (cfg.WorkingDir) args.push('--workdir', cfg.WorkingDir);
  const fromImage = new Set(imageEnv);
  for (const e of cfg.Env ?? []) if (!fromImage.has(e)) args.push('-e', e);
  for (const [k, v] of Object.entries(cfg.Labels ?? {})) {
    if (k.startsWith('com.docker.compose.')) continue;
    args.push('--label', `${k}=${v}`);
  }
  for (const [port, bindings] of Object.entries(hc.PortBindings ?? {})) {
    const [num, proto] = port.split('/');
    for (const b of (bindings as Array<{ HostIp?: string; HostPort?: string }> | null) ?? []) {
      const host = [b.HostIp, b.HostPort].filter((x) => x !== undefined && x !== '').join(':');
      args.push('-p', `${host ? `${host}:` : ''}${num}${proto && proto !== 'tcp' ? `/${proto}` : ''}`);
    }
  }
  for (const bind of hc.Binds ?? []) args.push('-v', bind);
  for (const m of (hc.Mounts ?? []) as Array<{
    Type: string;
    Source?: string;
    Target: string;
    ReadOnly?: boolean;
  }>)
    args.push(
      '--mount',
      `type=${m.Type}${m.Source ? `,source=${m.Source}` : ''},target=${m.Target}${m.ReadOnly ? ',readonly' : ''}`,
    );
  const net = hc.NetworkMode;
  if (net && net !== 'default' && net !== 'bridge') args.push('--network', net);
  const restart = hc.RestartPolicy?.Name;
  if (restart && restart !== 'no')
    args.push(
      '--restart',
      restart === 'on-failure' && hc.RestartPolicy?.MaximumRetryCount
        ? `on-failure:${hc.RestartPolicy.MaximumRetryCount}`
        : restart,
    );
  if (hc.AutoRemove) args.push('--rm');
  if (hc.Memory) args.push('--memory', String(hc.Memory));
  if (hc.NanoCpus) args.push('--cpus', String(hc.NanoCpus / 1e9));
  if (hc.PidsLimit) args.push('--pids-limit', String(hc.PidsLimit));
  if (hc.Privileged) args.push('--privileged');
  if (hc.ReadonlyRootfs) args.push('--read-only');
  for (const cap of hc.CapAdd ?? []) args.push('--cap-add', cap);
  for (const cap of hc.CapDrop ?? []) args.push('--cap-drop', cap);
  if (cfg.Entrypoint && cfg.Entrypoint.length > 0) {
    args.push('--entrypoint', cfg.Entrypoint[0]);
  }
  args.push(cfg.Image);
  const rest = [...(cfg.Entrypoint?.slice(1) ?? []), ...(cfg.Cmd ?? [])];
  args.push(...rest);
  return args.map(shellQuote).join(' ');
}

/** Splits a command line into words the way a shell would: quotes and backslashes, no expansions. */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]))
        cur += line[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in: ${line}`);
  if (inWord) words.push(cur);
  return words;
}
