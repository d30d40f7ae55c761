import type {
  DeliveryStreamModel,
  GlueColumnModel,
  GlueTableModel,
  NamedQueryModel,
  WorkGroupModel,
} from '../model.js';
import type { ExtractContext } from './context.js';
import { at, TemplateError } from './errors.js';
import { stableUuid } from './names.js';
import { isRecord } from './template.js';

/** Firehose defaults: 300 s / 5 MiB, and 128 MiB when converting to Parquet or ORC. */
export const DEFAULT_BUFFER_SECONDS = 300;
export const DEFAULT_BUFFER_MIB = 5;
export const DEFAULT_CONVERSION_BUFFER_MIB = 128;

function bucketNameOfArn(arn: string, where: string): string {
  const match = /^arn:[^:]+:s3:::([^/]+)$/.exec(arn);
  if (!match) throw new TemplateError(`${where} must be an S3 bucket ARN, got ${arn}.`);
  return match[1] as string;
}

export function extractDeliveryStreams(ctx: ExtractContext): DeliveryStreamModel[] {
  return ctx.resources('AWS::KinesisFirehose::DeliveryStream').map(([logicalId, resource]) => {
    const key = resource.Properties?.ExtendedS3DestinationConfiguration
      ? 'ExtendedS3DestinationConfiguration'
      : 'S3DestinationConfiguration';
    const destination = ctx.prop(logicalId, resource, key);
    if (!isRecord(destination)) {
      throw new TemplateError(
        `${at(logicalId, 'Properties')}: only S3 delivery streams run locally (ExtendedS3DestinationConfiguration).`,
      );
    }
    const where = at(logicalId, `Properties.${key}`);
    const hints = isRecord(destination.BufferingHints) ? destination.BufferingHints : {};
    const conversion = isRecord(destination.DataFormatConversionConfiguration)
      ? destination.DataFormatConversionConfiguration
      : undefined;
    let parquet: DeliveryStreamModel['parquet'];
    if (conversion && conversion.Enabled !== false && conversion.Enabled !== 'false') {
      const output = isRecord(conversion.OutputFormatConfiguration)
        ? conversion.OutputFormatConfiguration
        : {};
      const serializer = isRecord(output.Serializer) ? output.Serializer : {};
      const schema = isRecord(conversion.SchemaConfiguration) ? conversion.SchemaConfiguration : {};
      if (!isRecord(serializer.ParquetSerDe)) {
        throw new TemplateError(
          `${where}.DataFormatConversionConfiguration: only Parquet output runs locally.`,
        );
      }
      if (typeof schema.DatabaseName !== 'string' || typeof schema.TableName !== 'string') {
        throw new TemplateError(
          `${where}.DataFormatConversionConfiguration.SchemaConfiguration needs DatabaseName and TableName.`,
        );
      }
      parquet = {
        databaseName: schema.DatabaseName,
        tableName: schema.TableName,
        compression: String(serializer.ParquetSerDe.Compression ?? 'SNAPPY'),
      };
    }
    if (typeof destination.BucketARN !== 'string') throw new TemplateError(`${where}.BucketARN is missing.`);
    return {
      logicalId,
      name: ctx.resolver.names.physicalName(logicalId),
      arn: ctx.resolver.names.arn(logicalId, logicalId),
      bucketName: bucketNameOfArn(destination.BucketARN, `${where}.BucketARN`),
      prefix: typeof destination.Prefix === 'string' ? destination.Prefix : '',
      errorOutputPrefix:
        typeof destination.ErrorOutputPrefix === 'string' ? destination.ErrorOutputPrefix : '',
      bufferingIntervalSeconds: Number(hints.IntervalInSeconds ?? DEFAULT_BUFFER_SECONDS),
      bufferingSizeMiB: Number(
        hints.SizeInMBs ?? (parquet ? DEFAULT_CONVERSION_BUFFER_MIB : DEFAULT_BUFFER_MIB),
      ),
      ...(typeof destination.RoleARN === 'string' && { roleArn: destination.RoleARN }),
      ...(parquet && { parquet }),
    };
  });
}

function columns(value: unknown, where: string): GlueColumnModel[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TemplateError(`${where} must be a list of columns.`);
  return value.map((c, i) => {
    if (!isRecord(c) || typeof c.Name !== 'string' || typeof c.Type !== 'string') {
      throw new TemplateError(`${where}[${i}] needs a Name and a Type.`);
    }
    return { name: c.Name, type: c.Type };
  });
}

export function extractGlueTables(ctx: ExtractContext): GlueTableModel[] {
  return ctx.resources('AWS::Glue::Table').map(([logicalId, resource]) => {
    const input = ctx.prop(logicalId, resource, 'TableInput');
    const where = at(logicalId, 'Properties.TableInput');
    if (!isRecord(input)) throw new TemplateError(`${where} is missing.`);
    const storage = isRecord(input.StorageDescriptor) ? input.StorageDescriptor : {};
    const parameters = isRecord(input.Parameters) ? input.Parameters : {};
    return {
      databaseName: ctx.string(logicalId, resource, 'DatabaseName') ?? '',
      name: ctx.resolver.names.physicalName(logicalId),
      columns: columns(storage.Columns, `${where}.StorageDescriptor.Columns`),
      partitionKeys: columns(input.PartitionKeys, `${where}.PartitionKeys`),
      location: typeof storage.Location === 'string' ? storage.Location : '',
      parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, String(v)])),
    };
  });
}

export function extractWorkGroups(ctx: ExtractContext): WorkGroupModel[] {
  return ctx.resources('AWS::Athena::WorkGroup').map(([logicalId, resource]) => {
    const cutoff = ctx.number(logicalId, resource, 'WorkGroupConfiguration.BytesScannedCutoffPerQuery');
    return {
      name: ctx.resolver.names.physicalName(logicalId),
      outputLocation:
        ctx.string(logicalId, resource, 'WorkGroupConfiguration.ResultConfiguration.OutputLocation') ?? '',
      ...(cutoff !== undefined && { bytesScannedCutoffPerQuery: cutoff }),
    };
  });
}

export function extractNamedQueries(ctx: ExtractContext): NamedQueryModel[] {
  return ctx.resources('AWS::Athena::NamedQuery').map(([logicalId, resource]) => ({
    id: stableUuid(`${ctx.env.stackName}/${logicalId}`),
    name: ctx.string(logicalId, resource, 'Name') ?? logicalId,
    description: ctx.string(logicalId, resource, 'Description') ?? '',
    database: ctx.string(logicalId, resource, 'Database') ?? '',
    workGroup: ctx.string(logicalId, resource, 'WorkGroup') ?? 'primary',
    queryString: ctx.string(logicalId, resource, 'QueryString') ?? '',
  }));
}
