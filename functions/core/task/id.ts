import * as z from 'zod/mini';

/**
 * Task ids name queues and functions (`inferbus-<stage>-<task>-t1-<tenant>`): short, no dashes.
 * Its own module so the envelope (shipped in the producer library) takes no manifest code along.
 */
export const TASK_ID_PATTERN = /^[a-z][a-z0-9]{0,11}$/;
export const taskIdSchema = z
  .string()
  .check(z.regex(TASK_ID_PATTERN, 'task ids are 1-12 lowercase letters and digits, starting with a letter'));
