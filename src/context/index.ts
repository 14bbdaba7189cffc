// The per-request context: who is asking, on which database handles, with which audit fields.
export { actorFor, type Actor } from './actor.js';
export { requireActor, type AuditFields, type RequestContext } from './request-context.js';
export { CARRIED_SESSION, settleSession, type DeferredSessionCheck } from './session.js';
export { writeTx } from './transaction.js';
