// The one error type of the compose library: what went wrong, and where in
// which file, so that the CLI and the dashboard can both point at the line.
export interface SourcePosition {
  file?: string;
  /** Dotted path of the key, e.g. services.api.environment. */
  key?: string;
  /** 1-based line, where the YAML parser knows it. */
  line?: number;
}

export class ComposeError extends Error {
  constructor(
    readonly problem: string,
    readonly where: SourcePosition = {},
  ) {
    super(formatComposeError(problem, where));
  }
}

function formatComposeError(problem: string, where: SourcePosition): string {
  const place = [where.file, where.line !== undefined ? `line ${where.line}` : undefined]
    .filter(Boolean)
    .join(', ');
  const key = where.key ? `${where.key}: ` : '';
  return place ? `${place}: ${key}${problem}` : `${key}${problem}`;
}
