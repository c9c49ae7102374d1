/** An etcd data dir that cannot be used as it is: the message names the file and what is wrong with it. */
export class EtcdDataDirError extends Error {
  constructor(
    /** The file (or directory) at fault. */
    readonly file: string,
    what: string,
    /** `what` already names the file (a message from the bbolt reader). */
    named = false,
  ) {
    super(named ? what : `${file}: ${what}`);
    this.name = "EtcdDataDirError";
  }
}
