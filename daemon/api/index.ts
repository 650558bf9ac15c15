export { type ClientOptions, type ClientResponse, type RawRequest, type RawResponse, apiCall, apiDownload, apiStream, rawRequest } from './client.js';
export { type EvidenceRouteDeps, evidenceRoutes } from './evidence-routes.js';
export { type CoreRouteDeps, coreRoutes, discoveryRoute, eventsQuery } from './routes.js';
export { tokenRoutes } from './token-routes.js';
export { ApiServer, type ApiServerDeps, type ApiResponse, dispatch } from './server.js';
export {
  type ApiRequest,
  type ApiResult,
  type AuthDecision,
  type Authorizer,
  type Principal,
  ROLES,
  type Role,
  type Route,
  defineRoute,
  roleAllows,
} from './types.js';
export { type ControlRouteDeps, controlRoutes } from './control-routes.js';
export { type LogsQuery, type LogsRouteDeps, logsQuery, logsRoutes } from './logs-routes.js';
export { type ModeChangeEvent, type ModeReason, type RejectedPolicyFile, type StatusBundle, type StatusSources, modeReasonOf, statusDocument } from './status-document.js';
