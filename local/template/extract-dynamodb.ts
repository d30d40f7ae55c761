import type { TableModel } from '../model.js';
import type { ExtractContext } from './context.js';
import { at, TemplateError } from './errors.js';
import { isRecord } from './template.js';

/** `AWS::DynamoDB::Table`s: name, key schema and attribute definitions, TTL attribute. */
export function extractTables(ctx: ExtractContext): TableModel[] {
  return ctx.resources('AWS::DynamoDB::Table').map(([logicalId, resource]) => {
    const keySchema = ctx.prop(logicalId, resource, 'KeySchema');
    const definitions = ctx.prop(logicalId, resource, 'AttributeDefinitions');
    const keys = Array.isArray(keySchema) ? keySchema.filter(isRecord) : [];
    const attributes = Array.isArray(definitions) ? definitions.filter(isRecord) : [];
    if (
      keys.length === 0 ||
      keys.some((k) => typeof k.AttributeName !== 'string' || (k.KeyType !== 'HASH' && k.KeyType !== 'RANGE'))
    ) {
      throw new TemplateError(
        `${at(logicalId, 'Properties.KeySchema')} needs a HASH key (and optionally a RANGE key).`,
      );
    }
    if (
      attributes.some(
        (a) => typeof a.AttributeName !== 'string' || !['S', 'N', 'B'].includes(String(a.AttributeType)),
      )
    ) {
      throw new TemplateError(
        `${at(logicalId, 'Properties.AttributeDefinitions')} must name attributes of type S, N or B.`,
      );
    }
    const ttl = ctx.prop(logicalId, resource, 'TimeToLiveSpecification');
    const ttlEnabled = isRecord(ttl) && (ttl.Enabled === true || ttl.Enabled === 'true');
    return {
      logicalId,
      name: ctx.resolver.names.physicalName(logicalId),
      arn: ctx.resolver.names.arn(logicalId, logicalId),
      keySchema: keys as unknown as TableModel['keySchema'],
      attributeDefinitions: attributes as unknown as TableModel['attributeDefinitions'],
      ...(ttlEnabled && typeof ttl.AttributeName === 'string'
        ? { timeToLiveAttribute: ttl.AttributeName }
        : {}),
    };
  });
}
