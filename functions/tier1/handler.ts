import { createTierHandler } from '../inference/tier-handler';

/** A task's entry tier (INFERBUS_TIER=1): its cheapest model; unsure requests escalate to tier 2. */
export const handler = createTierHandler({ role: 'entry' });
