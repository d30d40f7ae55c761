import type { HandlerCalls } from '../core/declared-calls';
import { TENANCY_CALLS, TIER_HANDLER_CALLS } from '../inference/calls';

/** The AWS calls functions/tier1/handler.ts makes (checked by `inferbus preflight`). */
export const TIER1_CALLS: HandlerCalls = {
  handler: 'functions/tier1/handler.ts',
  calls: [...TIER_HANDLER_CALLS, ...TENANCY_CALLS],
};
