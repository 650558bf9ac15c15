export { FleetLink, type LinkSnapshot, type LinkState } from './link.js';
export type { FleetDeps, LinkKey } from './types.js';
