/** The JSON line Firehose writes under the error prefix for a record it could not convert. */
export interface FormatConversionFailure {
  readonly attemptsMade: number;
  readonly arrivalTimestamp: number;
  readonly lastErrorCode: string;
  readonly lastErrorMessage: string;
  readonly attemptEndingTimestamp: number;
  /** The record as received, base64. */
  readonly rawData: string;
  readonly sequenceNumber: string;
  readonly subSequenceNumber: null;
  readonly dataCatalogTable: {
    readonly catalogId: null;
    readonly databaseName: string;
    readonly tableName: string;
    readonly region: null;
    readonly versionId: 'LATEST';
    readonly roleArn: null;
  };
}

export function formatConversionFailure(input: {
  data: string;
  arrival: Date;
  sequenceNumber: string;
  code: string;
  message: string;
  databaseName: string;
  tableName: string;
}): FormatConversionFailure {
  return {
    attemptsMade: 1,
    arrivalTimestamp: input.arrival.getTime(),
    lastErrorCode: input.code,
    lastErrorMessage: input.message,
    attemptEndingTimestamp: Date.now(),
    rawData: Buffer.from(input.data, 'utf8').toString('base64'),
    sequenceNumber: input.sequenceNumber,
    subSequenceNumber: null,
    dataCatalogTable: {
      catalogId: null,
      databaseName: input.databaseName,
      tableName: input.tableName,
      region: null,
      versionId: 'LATEST',
      roleArn: null,
    },
  };
}
