/**
 * Whether the text has no lone surrogate, i.e. it can be written as UTF-8 and read back the same:
 * ES2024 `String.prototype.isWellFormed`, which Node 20 has and our `lib` typings do not yet.
 */
export function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}
