/** A mistake in how a command was called: exit code 2 with the usage text. */
export class UsageError extends Error {}
