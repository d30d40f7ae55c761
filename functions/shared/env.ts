import { z } from 'zod';

/** A handler cannot start: the message names the variable and what it should hold. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

const jsonRecord = z.string().transform((text, ctx) => {
  try {
    return z.record(z.string(), z.string()).parse(JSON.parse(text));
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object of strings' });
    return z.NEVER;
  }
});

export const handlerEnvSchema = z.object({
  EVENT_BUS_NAME: z.string().min(1),
  INFERBUS_TIER: z.coerce.number().int().min(1).max(9),
  MODELS_DIR: z.string().min(1).default('/opt/models'),
  /** Which manifest model this function serves. @default tier<INFERBUS_TIER> */
  MODEL_NAME: z.string().min(1).optional(),
  CASCADE_THRESHOLD: z.union([z.literal('manifest'), z.coerce.number().min(0.5).max(1)]).default('manifest'),
  /** Queue ARN → URL of that queue's DLQ. */
  DLQ_URLS: jsonRecord.default({}),
  MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).default(3),
  ORT_INTRA_OP_THREADS: z.coerce.number().int().min(1).max(64).default(1),
});
export type HandlerEnv = z.infer<typeof handlerEnvSchema>;

export function readHandlerEnv(env: NodeJS.ProcessEnv = process.env): HandlerEnv {
  const parsed = handlerEnvSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    return env[name] === undefined
      ? `${name} is not set`
      : `${name}=${JSON.stringify(env[name])}: ${issue.message}`;
  });
  throw new ConfigurationError(`The handler's environment is invalid: ${problems.join('; ')}`);
}
