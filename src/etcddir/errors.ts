/** An etcd data dir that cannot be used as it is: the message names the file and what is wrong with it. */
export class EtcdDataDirError extends Error {
  constructor(
    /** The file (or directory) at fault. */
    readonly file: string,
    what: string,
  ) {
    super(`${file}: ${what}`);
    this.name = "EtcdDataDirError";
  }
}
