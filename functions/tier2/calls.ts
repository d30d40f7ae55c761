import type { HandlerCalls } from '../core/declared-calls';
import { TENANCY_CALLS, TIER_HANDLER_CALLS } from '../inference/calls';

/**
 * The AWS calls functions/tier2/handler.ts makes (checked by `inferbus preflight`). Tenancy calls
 * are declared too: the handler makes them whenever its stage gives it TENANT_STATE_TABLE.
 */
export const TIER2_CALLS: HandlerCalls = {
  handler: 'functions/tier2/handler.ts',
  calls: [...TIER_HANDLER_CALLS, ...TENANCY_CALLS],
};
