/**
 * Fault injection for tests and HIL rigs: `WAVEOS_FAULT=bundle.after:staged` (comma-separated for several)
 * makes the daemon SIGKILL itself right after that point is journaled. Inert unless the variable is set.
 */
export function faultHook(env: NodeJS.ProcessEnv, onFire: (point: string) => void = () => undefined): ((point: string) => void) | undefined {
  const spec = env.WAVEOS_FAULT?.trim();
  if (!spec) return undefined;
  const points = new Set(spec.split(',').map((s) => s.trim()).filter(Boolean));
  return (point) => {
    if (!points.has(point)) return;
    onFire(point);
    process.kill(process.pid, 'SIGKILL');
  };
}
