/**
 * Colour for people, plain for programs: on only when stdout is a terminal, `NO_COLOR` is unset or empty
 * (no-color.org), `TERM` is not `dumb` and `--no-color` was not given. Piped output is never coloured.
 */
export function colourOn(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, tty: boolean = process.stdout.isTTY === true): boolean {
  if (argv.includes('--no-color') || (env.NO_COLOR !== undefined && env.NO_COLOR !== '') || env.TERM === 'dumb') return false;
  return tty;
}

const SGR = { red: '31', green: '32', yellow: '33', magenta: '35', bold: '1', dim: '2' } as const;
export type Style = keyof typeof SGR;

export type Paint = (style: Style, text: string) => string;

export function painter(on: boolean): Paint {
  return on ? (style, text) => `\u001b[${SGR[style]}m${text}\u001b[0m` : (_style, text) => text;
}

const SEVERITY_STYLE: Record<string, Style | undefined> = { critical: 'magenta', error: 'red', warning: 'yellow', notice: 'bold', info: undefined };

export function paintSeverity(paint: Paint, severity: string, text: string = severity): string {
  const style = SEVERITY_STYLE[severity];
  return style ? paint(style, text) : text;
}

const STATE_STYLE: Record<string, Style | undefined> = {
  normal: 'green',
  running: 'green',
  degraded: 'yellow',
  backoff: 'yellow',
  starting: 'yellow',
  stopping: 'yellow',
  safe: 'red',
  failed: 'red',
  crashed: 'red',
};

/** A mode or service state in its colour: green when well, yellow on the way, red when it needs someone. */
export function paintState(paint: Paint, state: string): string {
  const style = STATE_STYLE[state];
  return style ? paint(style, state) : state;
}
