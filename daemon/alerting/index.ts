export { type AlertChange, alertChanges, fingerprint } from './alerts.js';
export { AlertGroups, type Notification, type NotifiedAlert } from './groups.js';
export { type DeviceFacts, WEBHOOK_SCHEMA, emailBody, slackBody, webhookBody } from './render.js';
export { routesFor } from './router.js';
export { type AlertingDeps, AlertingService } from './service.js';
