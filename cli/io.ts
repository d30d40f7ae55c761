import { escapeControls } from './format';

/** All command output goes through one object, so tests can capture it and TTY-ness is decided once. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  /** True when progress can redraw in place (a terminal); false prints plain lines. */
  readonly interactive: boolean;
  /** Raw text to stderr without a newline (a progress bar redrawn with `\r`). */
  write?(text: string): void;
}

export const processIO: CliIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  // stderr is read by people only (errors, progress, bad input lines echoed back): escape controls.
  err: (line) => process.stderr.write(`${escapeControls(line)}\n`),
  interactive: Boolean(process.stderr.isTTY),
  write: (text) => process.stderr.write(text),
};
