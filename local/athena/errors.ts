/** An Athena API error: `code` becomes the `__type` of the JSON 1.1 error body. */
export class AthenaRequestError extends Error {
  constructor(
    readonly code:
      | 'InvalidRequestException'
      | 'ResourceNotFoundException'
      | 'InternalServerException'
      | 'SerializationException',
    message: string,
    readonly status = 400,
    /** Athena's `AthenaErrorCode` on InvalidRequestException, e.g. MALFORMED_QUERY for SQL its parser refuses. */
    readonly athenaErrorCode?: string,
  ) {
    super(message);
    this.name = 'AthenaRequestError';
  }
}
