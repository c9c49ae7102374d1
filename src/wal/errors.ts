/** Base class of every error the WAL raises, so callers can tell storage failures apart. */
export class WalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The directory holds a log that cannot be trusted: a record fails its checksum, indexes have a gap,
 * terms go backwards, the hard state commits past the log, the meta record is missing, or the LMDB
 * file itself is damaged. The message is one line naming the directory and the problem; recovery
 * never drops or repairs anything on its own.
 */
export class WalCorruptError extends WalError {
  constructor(
    readonly dir: string,
    readonly problem: string,
  ) {
    super(`wal: ${dir} is corrupt: ${problem}`);
  }
}

/** The directory was written by a newer (or unknown) on-disk layout that this build cannot read. */
export class WalSchemaError extends WalError {
  constructor(
    readonly dir: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      found > supported
        ? `wal: ${dir} was written by a newer rxetcd (schema ${found}); this version reads schema ${supported}`
        : `wal: ${dir} has unknown schema ${found}; this version reads schema ${supported}`,
    );
  }
}

/** A save asked for something Raft never does (a gap, a term going backwards, a commit past the log). */
export class WalInputError extends WalError {}

/** The WAL exists (create), does not exist (open), or was closed or failed earlier. */
export class WalStateError extends WalError {}
