import { ExitCode } from './errors';

/**
 * Ctrl-C during long work: the first SIGINT aborts `signal` (the work stops starting new things,
 * finishes what is in flight and reports), a second one exits at once with 130. `dispose` puts
 * Node's default handling back.
 */
export interface Interrupt {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function onInterrupt(
  notice: () => void,
  exit: (code: number) => never = (code) => process.exit(code),
): Interrupt {
  const controller = new AbortController();
  const second = () => exit(ExitCode.Interrupted);
  const first = () => {
    process.once('SIGINT', second);
    controller.abort();
    notice();
  };
  process.once('SIGINT', first);
  return {
    signal: controller.signal,
    dispose: () => {
      process.removeListener('SIGINT', first);
      process.removeListener('SIGINT', second);
    },
  };
}
