/** A template or cloud assembly the local runtime cannot interpret; the message says what to fix. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

/** Where in the template a value sits, for error messages: `Tier1Function.Properties.Environment`. */
export function at(logicalId: string, property: string): string {
  return property ? `${logicalId}.${property}` : logicalId;
}
