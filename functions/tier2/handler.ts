import { createTierHandler } from '../inference/tier-handler';

/**
 * Every escalation tier of a task (INFERBUS_TIER >= 2): a larger model; it escalates again when
 * unsure unless it is the task's last tier (INFERBUS_LAST_TIER=true), which answers every event.
 */
export const handler = createTierHandler({ role: 'escalation' });
