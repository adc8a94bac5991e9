// A small getopt for the compose commands: --name value, --name=value, -n value,
// repeated flags, and (for exec/run) everything after the first positional kept as is.
export interface FlagSpec {
  /** Short form without the dash, e.g. "d". */
  short?: string;
  /** Takes a value (otherwise a boolean). */
  value?: boolean;
  /** May be given more than once (values collected in order). */
  multiple?: boolean;
}

export interface ParsedFlags {
  flags: Record<string, string | string[] | boolean | undefined>;
  positionals: string[];
}

export class UsageError extends Error {}

export function parseFlags(
  argv: string[],
  spec: Record<string, FlagSpec>,
  stopAtFirstPositional = false,
): ParsedFlags {
  const byShort = new Map(
    Object.entries(spec)
      .filter(([, s]) => s.short)
      .map(([name, s]) => [s.short as string, name]),
  );
  const flags: ParsedFlags['flags'] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      if (stopAtFirstPositional) {
        positionals.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      name = byShort.get(arg[1]);
      if (arg.length > 2) inline = arg.slice(2).replace(/^=/, '');
      // -dT: several boolean short flags together.
      if (name && !spec[name].value && inline !== undefined) {
        const all = [...arg.slice(1)].map((c) => byShort.get(c));
        if (all.every((n) => n && !spec[n].value)) {
          for (const n of all) flags[n as string] = true;
          continue;
        }
      }
    }
    const s = name === undefined ? undefined : spec[name];
    if (!s || name === undefined) throw new UsageError(`unknown flag: ${arg}`);
    let value: string | boolean = true;
    if (s.value) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new UsageError(`flag needs an argument: ${arg}`);
    } else if (inline !== undefined) {
      value = inline !== 'false';
    }
    if (s.multiple) flags[name] = [...((flags[name] as string[] | undefined) ?? []), String(value)];
    else flags[name] = value;
  }
  return { flags, positionals };
}
