import { createTierHandler } from '../inference/tier-handler';

/** Tier-2 inference: the larger model; it answers every event it receives. */
export const handler = createTierHandler({ tier: 2, lastTier: true });
