/** A bbolt file that cannot be read (damaged, truncated, not bbolt) or data that cannot be written as one. */
export class BboltError extends Error {
  /** The file concerned, when there is one. */
  readonly file: string | undefined;
  /** The page concerned, when the problem is on one page. */
  readonly page: number | undefined;

  constructor(what: string, where: { file?: string; page?: number } = {}) {
    const prefix = [
      where.file === undefined ? "bbolt" : `bbolt file ${where.file}`,
      where.page === undefined ? undefined : `page ${where.page}`,
    ]
      .filter((p) => p !== undefined)
      .join(": ");
    super(`${prefix}: ${what}`);
    this.name = "BboltError";
    this.file = where.file;
    this.page = where.page;
  }
}
