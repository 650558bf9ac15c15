import { type Lifecycle, type Logger, WaveosError, errorMessage, isWaveosError } from '../core/index.js';
import type { Journal } from '../journal/index.js';

/** One thing to change in the world, with who asked and why. */
export interface ActionRequest {
  /** Registered action kind: `service.restart`, `mode.set`, `board.reboot`, `bundle.install`, … */
  action: string;
  target?: string;
  params?: Record<string, unknown>;
  /** Why, in words a field engineer can read. */
  reason: string;
  /** Who asked: `recovery`, `policy:<rule>`, `operator:<name>`. */
  source: string;
}

export interface ActionOutcome {
  /** What happened, in words. */
  reason: string;
  /** The numbers behind it. */
  data?: Record<string, unknown>;
}

export interface ActionContext {
  /** Aborted when the daemon stops: long actions should give up at the next safe point. */
  signal: AbortSignal;
}

export type ActionHandler = (req: ActionRequest, ctx: ActionContext) => Promise<ActionOutcome> | ActionOutcome;

export interface ActionResult extends ActionOutcome {
  intent_id: number;
  action: string;
  target: string | null;
}

/**
 * The only code that changes the world. Each action is journaled as an intent (durably) before it runs and
 * its outcome after, and actions run one at a time, in the order asked, through one queue.
 * Handlers must not call `run` themselves (it would wait for itself): they use the modules directly.
 */
export class ActionExecutor implements Lifecycle {
  readonly name = 'executor';
  private readonly handlers = new Map<string, ActionHandler>();
  private tail: Promise<unknown> = Promise.resolve();
  private abort = new AbortController();
  private queued = 0;

  constructor(private readonly deps: { journal: Journal; log: Logger }) {}

  /** Registers an action kind; returns the handle that removes it. Registering a kind twice is a programming error. */
  register(action: string, handler: ActionHandler): () => void {
    if (this.handlers.has(action)) throw new Error(`action ${action} is already registered`);
    this.handlers.set(action, handler);
    return () => this.handlers.delete(action);
  }

  actions(): string[] {
    return [...this.handlers.keys()].sort();
  }

  get pending(): number {
    return this.queued;
  }

  start(signal: AbortSignal): void {
    signal.addEventListener('abort', () => this.abort.abort(), { once: true });
  }

  /**
   * Aborts: queued actions are refused, the running one sees its signal. Waits briefly for it, not for long:
   * the supervisor, stopped next, ends whatever a slow action was waiting for, within the stop budget.
   */
  async stop(): Promise<void> {
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.tail.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, 200)))]);
    clearTimeout(timer);
  }

  /** Queues an action; resolves with its outcome once it ran, rejects (after journaling the failure) when it failed. */
  run(req: ActionRequest): Promise<ActionResult> {
    const handler = this.handlers.get(req.action);
    if (!handler) {
      return Promise.reject(new WaveosError('WAVEOS_E_BAD_REQUEST', `unknown action "${req.action}" (known: ${this.actions().join(', ')})`));
    }
    this.queued++;
    const p = this.tail.then(() => this.execute(handler, req));
    this.tail = p.catch(() => undefined);
    return p.finally(() => this.queued--);
  }

  private async execute(handler: ActionHandler, req: ActionRequest): Promise<ActionResult> {
    if (this.abort.signal.aborted) throw new WaveosError('WAVEOS_E_RUNTIME', `${req.action} not run: WaveOS is stopping`);
    const intent = this.deps.journal.beginIntent({ action: req.action, target: req.target, params: req.params, reason: req.reason, requestedBy: req.source });
    try {
      const out = await handler(req, { signal: this.abort.signal });
      this.deps.journal.finishIntent(intent, 'succeeded', out.reason, out.data ?? {});
      return { ...out, intent_id: intent.id, action: req.action, target: req.target ?? null };
    } catch (e) {
      const message = errorMessage(e);
      try {
        this.deps.journal.finishIntent(intent, 'failed', `${req.action}${req.target ? ` of ${req.target}` : ''} failed: ${message}`, {
          error: message,
          code: isWaveosError(e) ? e.code : null,
        });
      } catch (je) {
        this.deps.log.error({ err: errorMessage(je) }, 'cannot record an action failure');
      }
      throw e;
    }
  }
}
