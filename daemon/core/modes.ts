/** Modes the daemon can be in; the policy engine may decide transitions between them. */
export const MODES = ['normal', 'degraded', 'safe'] as const;
export type Mode = (typeof MODES)[number];
