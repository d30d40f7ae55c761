import { createTierHandler } from '../inference/tier-handler';

/** Tier-1 inference: the small fast model; unsure events are escalated to tier 2. */
export const handler = createTierHandler({ tier: 1, lastTier: false });
