/**
 * A failure of the cluster: a shard that died, stopped answering or answered garbage, or no shard
 * to be had. One line that names the shard (its slice, process and host) and what was last
 * completed with it; the CLI prints it and exits 1.
 */
export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}
