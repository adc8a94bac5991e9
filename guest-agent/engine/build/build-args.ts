// Build arguments as dockerd's classic builder scopes them: --build-arg
// values, ARGs before the first FROM (meta args, for FROM lines and for
// stages that declare them again), ARGs declared in the current stage, and
// the proxy variables that need no declaration.

/** Usable without an ARG line, and kept out of the cache key unless declared. */
export const BUILTIN_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
]);

export class BuildArgs {
  private allowed = new Map<string, string | undefined>();

  constructor(
    /** --build-arg: a name without a value (null) is declared but unset. */
    private readonly options: Map<string, string | null>,
    private readonly meta = new Map<string, string | undefined>(),
    private readonly referenced = new Set<string>(),
  ) {}

  /** A stage's own scope: the same options and meta args, nothing declared yet. */
  forStage(): BuildArgs {
    return new BuildArgs(this.options, this.meta, this.referenced);
  }

  addMeta(key: string, value: string | undefined): void {
    this.meta.set(key, value);
    this.referenced.add(key);
  }

  addArg(key: string, value: string | undefined): void {
    this.allowed.set(key, value);
    this.referenced.add(key);
  }

  private value(key: string, declared: Map<string, string | undefined>): string | undefined {
    const option = this.options.get(key);
    if (option !== undefined && option !== null) return option;
    const given = declared.get(key);
    if (given === undefined) return this.meta.get(key);
    return given;
  }

  /** Values for FROM lines: the meta args, overridden by --build-arg. */
  allMeta(): Map<string, string> {
    const out = new Map<string, string>();
    for (const key of this.meta.keys()) {
      const v = this.value(key, this.meta);
      if (v !== undefined) out.set(key, v);
    }
    return out;
  }

  /** Declared args with a value, and proxy args given with --build-arg. */
  allAllowed(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, option] of this.options) {
      if (BUILTIN_ARGS.has(key) && option !== null) out.set(key, option);
    }
    for (const key of this.allowed.keys()) {
      const v = this.value(key, this.allowed);
      if (v !== undefined) out.set(key, v);
    }
    return out;
  }

  /** "KEY=value" for the allowed args that no ENV of this name overrides. */
  filterAllowed(env: string[]): string[] {
    const envKeys = new Set(env.map((e) => e.split('=')[0]!));
    const out: string[] = [];
    for (const [k, v] of this.allAllowed()) if (!envKeys.has(k)) out.push(`${k}=${v}`);
    return out;
  }

  inCacheKey(key: string): boolean {
    return this.allowed.has(key) || !BUILTIN_ARGS.has(key);
  }

  /** --build-arg names no ARG consumed. */
  unused(): string[] {
    return [...this.options.keys()].filter((k) => !this.referenced.has(k) && !BUILTIN_ARGS.has(k)).sort();
  }
}
