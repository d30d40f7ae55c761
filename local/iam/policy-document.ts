import { z } from 'zod';
import { checkConditionBlock } from './conditions';

/** One string or a list of them, as IAM accepts for Action, Resource, principals and condition values. */
const oneOrMany = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

const conditionValue = z
  .union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number(), z.boolean()]))])
  .transform((v) => (Array.isArray(v) ? v : [v]).map(String));

const principal = z.union([
  z.literal('*'),
  z.partialRecord(z.enum(['AWS', 'Service', 'Federated', 'CanonicalUser']), oneOrMany),
]);

const statementSchema = z
  .object({
    Sid: z.string().optional(),
    Effect: z.enum(['Allow', 'Deny']),
    Action: oneOrMany.optional(),
    NotAction: oneOrMany.optional(),
    Resource: oneOrMany.optional(),
    NotResource: oneOrMany.optional(),
    Principal: principal.optional(),
    NotPrincipal: principal.optional(),
    Condition: z.record(z.string(), z.record(z.string(), conditionValue)).optional(),
  })
  .strict()
  .refine((s) => (s.Action === undefined) !== (s.NotAction === undefined), {
    message: 'a statement needs exactly one of Action and NotAction',
  });

export const policyDocumentSchema = z.object({
  Version: z.string().optional(),
  Id: z.string().optional(),
  Statement: z
    .union([statementSchema, z.array(statementSchema)])
    .transform((s) => (Array.isArray(s) ? s : [s])),
});

export type PolicyStatement = z.output<typeof statementSchema>;
export type PolicyDocument = z.output<typeof policyDocumentSchema>;
export type Principal = NonNullable<PolicyStatement['Principal']>;

/** Parses a policy document whose intrinsics are resolved; names where it came from when it is not one. */
export function parsePolicyDocument(document: unknown, where: string): PolicyDocument {
  const parsed = policyDocumentSchema.safeParse(document);
  if (parsed.success) {
    for (const [i, statement] of parsed.data.Statement.entries()) {
      try {
        if (statement.Condition) checkConditionBlock(statement.Condition);
      } catch (error) {
        throw new Error(`${where}: Statement[${i}]: ${(error as Error).message}`);
      }
    }
    return parsed.data;
  }
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`);
  throw new Error(`${where}: not a policy document the local IAM can read: ${problems.join('; ')}`);
}
