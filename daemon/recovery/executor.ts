import { type Lifecycle, type Logger, WaveosError, errorMessage, isWaveosError } from '../core/index.js';
import type { Journal } from '../journal/index.js';
import type { ActionMap, ActionName } from './actions.js';
import { activeContext, inSpan, spanAttributes, withContext } from '../tracing/index.js';

/** One thing to change in the world, with who asked and why (for an executor over the action map M). */
export interface MapRequest<M, A extends keyof M & string> {
  action: A;
  params: M[A];
  /** Why, in words a field engineer can read. */
  reason: string;
  /** Who asked: `recovery`, `policy:<rule>`, `operator:<name>`, `bundles`. */
  source: string;
  /** The policy rule behind it, journaled with the intent's parameters. */
  rule_id?: string;
  /**
   * Nobody waits on the outcome (start-up's service starts): it goes in with the next commit instead of one
   * of its own. The intent is still durable before the action runs; a crash before the outcome is stored
   * leaves the intent to be marked `interrupted` at the next start.
   */
  unattended?: boolean;
}

export type ActionRequest<A extends ActionName = ActionName> = MapRequest<ActionMap, A>;

/** A request for any one action, its parameters matched to its name. */
export type AnyActionRequest = { [A in ActionName]: ActionRequest<A> }[ActionName];

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

/** The one executor of an action: what the intent names as its target, and how it is done. */
export interface ActionHandler<P> {
  target?(params: P): string | null | undefined;
  /**
   * Refuses a request that could never run (an unknown service or mode) by throwing a usage error: it runs
   * before the intent is journaled, so a typo is answered, not recorded as a failed action.
   */
  check?(params: P): void;
  run(params: P, req: { reason: string; source: string }, ctx: ActionContext): Promise<ActionOutcome> | ActionOutcome;
}

/** A handler for every action of the map: the compiler says which one is missing. */
export type ActionHandlers<M> = { [A in keyof M]: ActionHandler<M[A]> };

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
export class ActionExecutor<M extends object = ActionMap> implements Lifecycle {
  readonly name = 'executor';
  private handlers: ActionHandlers<M> | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private abort = new AbortController();
  private queued = 0;

  constructor(private readonly deps: { journal: Journal; log: Logger }) {}

  /** Installs the handler of every action, once; the modules that own them build the map. */
  install(handlers: ActionHandlers<M>): void {
    if (this.handlers) throw new Error('the action handlers are already installed');
    this.handlers = handlers;
  }

  actions(): string[] {
    return Object.keys(this.handlers ?? {}).sort();
  }

  get pending(): number {
    return this.queued;
  }

  start(signal: AbortSignal): void {
    if (!this.handlers) throw new Error('the executor has no action handlers');
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
  run<A extends keyof M & string>(req: MapRequest<M, A>): Promise<ActionResult> {
    const handler = this.handlers?.[req.action] as ActionHandler<M[A]> | undefined;
    // Requests are typed, but one may still come from a caller the compiler did not see (a test, a plugin).
    if (!handler) return Promise.reject(new WaveosError('WAVEOS_E_BAD_REQUEST', `unknown action "${req.action}" (known: ${this.actions().join(', ')})`));
    try {
      handler.check?.(req.params);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    this.queued++;
    // The caller's span (an API request, a policy decision) is the parent of the action's, though it runs later.
    const ctx = activeContext();
    const p = this.tail.then(() => withContext(ctx, () => this.traced(handler, req)));
    this.tail = p.catch(() => undefined);
    return p.finally(() => this.queued--);
  }

  /** One span per action, intent to outcome (docs/observability.md, "Traces"). */
  private traced<A extends keyof M & string>(handler: ActionHandler<M[A]>, req: MapRequest<M, A>): Promise<ActionResult> {
    const attrs = { 'waveos.action': req.action, 'waveos.source': req.source, ...(req.rule_id === undefined ? {} : { 'waveos.rule_id': req.rule_id }) };
    return inSpan(`action ${req.action}`, attrs, () => this.execute(handler, req));
  }

  private async execute<A extends keyof M & string>(handler: ActionHandler<M[A]>, req: MapRequest<M, A>): Promise<ActionResult> {
    if (this.abort.signal.aborted) throw new WaveosError('WAVEOS_E_RUNTIME', `${req.action} not run: WaveOS is stopping`);
    const target = handler.target?.(req.params) ?? undefined;
    const params = { ...(req.params as Record<string, unknown>), ...(req.rule_id === undefined ? {} : { rule_id: req.rule_id }) };
    const intent = this.deps.journal.beginIntent({ action: req.action, target, params, reason: req.reason, requestedBy: req.source });
    spanAttributes({ 'waveos.intent_id': intent.id, 'waveos.intent_seq': intent.intent_seq, ...(target ? { 'waveos.target': target } : {}) });
    try {
      const out = await handler.run(req.params, { reason: req.reason, source: req.source }, { signal: this.abort.signal });
      const done = this.deps.journal.finishIntent(intent, 'succeeded', out.reason, out.data ?? {}, req.unattended === true);
      spanAttributes({ 'waveos.outcome_seq': done.seq, 'waveos.outcome': 'succeeded' });
      return { ...out, intent_id: intent.id, action: req.action, target: target ?? null };
    } catch (e) {
      const message = errorMessage(e);
      try {
        const ev = this.deps.journal.finishIntent(intent, 'failed', `${req.action}${target ? ` of ${target}` : ''} failed: ${message}`, {
          error: message,
          code: isWaveosError(e) ? e.code : null,
        }, req.unattended === true);
        spanAttributes({ 'waveos.outcome_seq': ev.seq, 'waveos.outcome': 'failed' });
      } catch (je) {
        this.deps.log.error({ err: errorMessage(je) }, 'cannot record an action failure');
      }
      throw e;
    }
  }
}
