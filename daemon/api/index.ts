export { localSocketAuthorizer } from './authorize.js';
export { type ClientOptions, type ClientResponse, apiCall, apiStream } from './client.js';
export { type CoreRouteDeps, coreRoutes, eventsQuery } from './routes.js';
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
export { type LogsQuery, type LogsRouteDeps, logsQuery, logsRoutes } from './logs-routes.js';
