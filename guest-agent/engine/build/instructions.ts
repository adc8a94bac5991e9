// Parsed Dockerfile lines → typed instructions grouped in stages, with the
// arity and flag checks (and messages) of BuildKit's instructions package.
// Variables are not expanded here: that happens at dispatch, when their
// values are known.
import { invalid } from '../../errors.js';
import {
  DockerfileSyntaxError,
  parseDockerfile,
  type DockerfileNode,
  type Heredoc,
  type KeyValue,
} from './dockerfile-parser.js';

export interface HealthConfig {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

interface Base {
  node: DockerfileNode;
}

export type Instruction = Base &
  (
    | { kind: 'env'; pairs: KeyValue[] }
    | { kind: 'label'; pairs: KeyValue[]; /** --label options: taken literally. */ noExpand?: boolean }
    | { kind: 'maintainer'; value: string }
    | {
        kind: 'copy' | 'add';
        sources: string[];
        dest: string;
        chown: string;
        chmod: string;
        from: string;
        /** Sources written inline (`COPY <<EOF /dest`), by marker name. */
        heredocs: Heredoc[];
      }
    | { kind: 'onbuild'; expression: string }
    | { kind: 'workdir'; path: string }
    | {
        kind: 'run';
        cmdLine: string[] | null;
        prependShell: boolean;
        heredocs: Heredoc[];
        /** `--mount=…` specs as written, one per flag. */
        mounts: string[];
        /** `--network=…`: "default", "none" or "host". */
        network: string;
        /** `--security=…`: "sandbox" or "insecure". */
        security: string;
      }
    | { kind: 'cmd' | 'entrypoint'; cmdLine: string[] | null; prependShell: boolean }
    | { kind: 'healthcheck'; health: HealthConfig }
    | { kind: 'expose'; ports: string[] }
    | { kind: 'user'; user: string }
    | { kind: 'volume'; volumes: string[] }
    | { kind: 'stopsignal'; signal: string }
    | { kind: 'arg'; args: Array<{ key: string; value?: string }> }
    | { kind: 'shell'; shell: string[] }
  );

export interface Stage {
  node: DockerfileNode;
  /** FROM's image reference, unexpanded. */
  baseName: string;
  /** `AS name`, lower-cased; empty when unnamed. */
  name: string;
  platform: string;
  commands: Instruction[];
}

export interface ParsedBuild {
  escape: string;
  /** ARGs before the first FROM. */
  metaArgs: Array<Extract<Instruction, { kind: 'arg' }>>;
  stages: Stage[];
  warnings: string[];
}

const BUILDKIT_ONLY = (flag: string) =>
  `the --${flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`;

const INSTRUCTIONS = [
  'add',
  'arg',
  'cmd',
  'copy',
  'entrypoint',
  'env',
  'expose',
  'from',
  'healthcheck',
  'label',
  'maintainer',
  'onbuild',
  'run',
  'shell',
  'stopsignal',
  'user',
  'volume',
  'workdir',
];

/** `--name=value` and `--name` flags, checked against what an instruction takes. */
function parseFlags(
  node: DockerfileNode,
  strings: string[],
  bools: string[] = [],
  buildkitOnly: string[] = [],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of node.flags) {
    if (!raw.startsWith('--')) throw invalid(`arg should start with -- : ${raw}`);
    const body = raw.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    if (buildkitOnly.includes(name)) throw invalid(BUILDKIT_ONLY(name));
    if (!strings.includes(name) && !bools.includes(name)) throw invalid(`unknown flag: ${name}`);
    if (out.has(name)) throw invalid(`duplicate flag specified: ${name}`);
    if (bools.includes(name)) {
      const v = (value ?? 'true').toLowerCase();
      if (v !== 'true' && v !== 'false')
        throw invalid(`expecting boolean value for flag ${name}, not: ${value}`);
      out.set(name, v);
    } else {
      if (value === undefined) throw invalid(`missing a value on flag: ${name}`);
      out.set(name, value);
    }
  }
  return out;
}

/** Go's time.ParseDuration, for HEALTHCHECK's intervals (nanoseconds). */
function parseDuration(flag: string, value: string | undefined): number | undefined {
  if (!value) return undefined;
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  if (value === '0') return undefined;
  while ((m = re.exec(value))) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== value.length || pos === 0) throw invalid(`time: invalid duration "${value}"`);
  if (total === 0) return undefined;
  if (total < 1e6) throw invalid(`Interval "${flag}" cannot be less than 1ms`);
  return Math.round(total);
}

function atLeastOne(node: DockerfileNode): void {
  if (node.args.length === 0) throw invalid(`${node.keyword.toUpperCase()} requires at least one argument`);
}

function exactlyOne(node: DockerfileNode): void {
  if (node.args.length !== 1) throw invalid(`${node.keyword.toUpperCase()} requires exactly one argument`);
}

function kvps(node: DockerfileNode): KeyValue[] {
  const pairs = node.pairs ?? [];
  const name = node.keyword.toUpperCase();
  if (pairs.length === 0) throw invalid(`${name} requires at least one argument`);
  if (pairs.some((p) => p.key === '')) throw invalid(`${name} names can not be blank`);
  return pairs;
}

function shellDependent(node: DockerfileNode, emptyAsNil: boolean) {
  const args = node.json ? node.args : node.args.length ? [node.args.join(' ')] : [];
  return { cmdLine: emptyAsNil && args.length === 0 ? null : args, prependShell: !node.json };
}

/** One instruction (FROM gives a stage). */
export function parseInstruction(node: DockerfileNode): Instruction | Stage {
  const upper = node.keyword.toUpperCase();
  switch (node.keyword) {
    case 'from': {
      const flags = parseFlags(node, ['platform']);
      const args = node.args;
      let name = '';
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        name = args[2]!.toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(name))
          throw invalid(
            `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`,
          );
      } else if (args.length !== 1) {
        throw invalid('FROM requires either one or three arguments');
      }
      return { node, baseName: args[0]!, name, platform: flags.get('platform') ?? '', commands: [] };
    }
    case 'env':
    case 'label':
      parseFlags(node, []);
      return { node, kind: node.keyword, pairs: kvps(node) };
    case 'maintainer':
      exactlyOne(node);
      parseFlags(node, []);
      return { node, kind: 'maintainer', value: node.args[0]! };
    case 'copy':
    case 'add': {
      if (node.args.length < 2)
        throw invalid(
          `${upper} requires at least two arguments, but only one was provided. Destination could not be determined`,
        );
      const flags =
        node.keyword === 'copy'
          ? parseFlags(node, ['chown', 'chmod', 'from'], ['link'], ['exclude', 'parents'])
          : parseFlags(node, ['chown', 'chmod'], ['link'], ['checksum', 'keep-git-dir', 'unpack', 'exclude']);
      return {
        node,
        kind: node.keyword,
        sources: node.args.slice(0, -1),
        dest: node.args[node.args.length - 1]!,
        chown: flags.get('chown') ?? '',
        chmod: flags.get('chmod') ?? '',
        from: flags.get('from') ?? '',
        heredocs: node.heredocs ?? [],
      };
    }
    case 'onbuild': {
      atLeastOne(node);
      parseFlags(node, []);
      const trigger = node.args[0]!.trim().toUpperCase();
      if (trigger === 'ONBUILD') throw invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === 'MAINTAINER' || trigger === 'FROM')
        throw invalid(`${trigger} isn't allowed as an ONBUILD trigger`);
      return { node, kind: 'onbuild', expression: node.original.replace(/^\s*ONBUILD\s*/i, '') };
    }
    case 'workdir':
      exactlyOne(node);
      parseFlags(node, []);
      return { node, kind: 'workdir', path: node.args[0]! };
    case 'run': {
      // --mount may be given more than once; the other flags once each.
      const mounts = node.flags
        .filter((f) => f.startsWith('--mount='))
        .map((f) => f.slice('--mount='.length));
      const flags = parseFlags(
        { ...node, flags: node.flags.filter((f) => !f.startsWith('--mount=')) },
        ['network', 'security'],
        [],
        ['mount', 'device'],
      );
      const network = flags.get('network') ?? 'default';
      if (!['default', 'none', 'host'].includes(network))
        throw invalid(`unsupported network mode: ${network}`);
      const security = flags.get('security') ?? 'sandbox';
      if (!['sandbox', 'insecure'].includes(security))
        throw invalid(`unsupported security mode: ${security}`);
      return {
        node,
        kind: 'run',
        ...shellDependent(node, false),
        heredocs: node.heredocs ?? [],
        mounts,
        network,
        security,
      };
    }
    case 'cmd':
      parseFlags(node, []);
      return { node, kind: 'cmd', ...shellDependent(node, false) };
    case 'entrypoint':
      parseFlags(node, []);
      return { node, kind: 'entrypoint', ...shellDependent(node, true) };
    case 'healthcheck': {
      atLeastOne(node);
      const type = node.args[0]!.toUpperCase();
      const rest = node.args.slice(1);
      if (type === 'NONE') {
        if (rest.length) throw invalid('HEALTHCHECK NONE takes no arguments');
        parseFlags(node, []);
        return { node, kind: 'healthcheck', health: { Test: ['NONE'] } };
      }
      const flags = parseFlags(node, ['interval', 'timeout', 'start-period', 'start-interval', 'retries']);
      if (type !== 'CMD') throw invalid(`Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
      if (rest.length === 0) throw invalid('Missing command after HEALTHCHECK CMD');
      const health: HealthConfig = {
        Test: node.json ? ['CMD', ...rest] : ['CMD-SHELL', rest.join(' ')],
      };
      const durations = [
        ['interval', 'Interval'],
        ['timeout', 'Timeout'],
        ['start-period', 'StartPeriod'],
        ['start-interval', 'StartInterval'],
      ] as const;
      for (const [flag, key] of durations) {
        const d = parseDuration(flag, flags.get(flag));
        if (d !== undefined) health[key] = d;
      }
      const retries = flags.get('retries');
      if (retries) {
        const n = Number(retries);
        if (!Number.isInteger(n)) throw invalid(`strconv.ParseInt: parsing "${retries}": invalid syntax`);
        if (n < 0) throw invalid(`--retries cannot be negative (${n})`);
        health.Retries = n;
      }
      return { node, kind: 'healthcheck', health };
    }
    case 'expose':
      atLeastOne(node);
      parseFlags(node, []);
      return { node, kind: 'expose', ports: [...node.args].sort() };
    case 'user':
      exactlyOne(node);
      parseFlags(node, []);
      return { node, kind: 'user', user: node.args[0]! };
    case 'volume': {
      atLeastOne(node);
      parseFlags(node, []);
      const volumes = node.args.map((v) => v.trim());
      if (volumes.some((v) => v === '')) throw invalid('VOLUME specified can not be an empty string');
      return { node, kind: 'volume', volumes };
    }
    case 'stopsignal':
      exactlyOne(node);
      return { node, kind: 'stopsignal', signal: node.args[0]! };
    case 'arg': {
      atLeastOne(node);
      parseFlags(node, []);
      const args = node.args.map((a) => {
        const eq = a.indexOf('=');
        if (eq < 0) return { key: a };
        if (eq === 0) throw invalid('ARG names can not be blank');
        return { key: a.slice(0, eq), value: a.slice(eq + 1) };
      });
      return { node, kind: 'arg', args };
    }
    case 'shell': {
      parseFlags(node, []);
      if (node.args.length === 0) throw invalid('SHELL requires at least one argument');
      if (!node.json) throw invalid('SHELL requires the arguments to be in JSON form');
      return { node, kind: 'shell', shell: node.args };
    }
    default: {
      const close = INSTRUCTIONS.find((i) => editDistance(i, node.keyword) <= 2);
      throw invalid(`unknown instruction: ${node.name}${close ? ` (did you mean ${close}?)` : ''}`);
    }
  }
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      dp[i]![j] = Math.min(
        dp[i - 1]![j]! + 1,
        dp[i]![j - 1]! + 1,
        dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
  return dp[a.length]![b.length]!;
}

/** A single ONBUILD trigger, parsed when a later build runs it. */
export function parseTrigger(expression: string): Instruction {
  const parsed = parseDockerfile(expression);
  if (parsed.nodes.length !== 1) throw invalid('onbuild trigger should be a single expression');
  const node = parsed.nodes[0]!;
  const ins = parseInstruction(node);
  if (!('kind' in ins)) throw invalid("FROM isn't allowed as an ONBUILD trigger");
  return ins;
}

/** The whole Dockerfile: meta ARGs, then stages. Every error carries its line. */
export function parseBuild(text: string): ParsedBuild {
  const parsed = parseDockerfile(text);
  const stages: Stage[] = [];
  const metaArgs: ParsedBuild['metaArgs'] = [];
  for (const node of parsed.nodes) {
    let ins: Instruction | Stage;
    try {
      ins = parseInstruction(node);
    } catch (err) {
      throw new DockerfileSyntaxError(node.startLine, (err as Error).message);
    }
    if (!('kind' in ins)) {
      stages.push(ins);
      continue;
    }
    if (stages.length === 0) {
      if (ins.kind === 'arg') {
        metaArgs.push(ins);
        continue;
      }
      throw new DockerfileSyntaxError(node.startLine, 'no build stage in current context');
    }
    stages[stages.length - 1]!.commands.push(ins);
  }
  if (stages.length === 0) throw new DockerfileSyntaxError(1, 'no build stage in current context');
  return { escape: parsed.escape, metaArgs, stages, warnings: parsed.warnings };
}
