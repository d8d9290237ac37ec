// Waiting on the server's own state (counters, holdings) rather than on time.

/** Resolves once check() holds, checking after every turn of the event loop. */
export function waitFor(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = () => (check() ? resolve() : setImmediate(poll));
    poll();
  });
}
