/**
 * The error answers pveproxy/pvedaemon give, as values a handler throws. The server turns them into
 * PVE's exact wire form (status, reason phrase = first line of the message, JSON or empty body).
 */

export class LabApiError extends Error {
  override readonly name = "LabApiError";
  constructor(
    readonly status: number,
    /** PVE's message, usually ending in "\n" like a Perl `die`. */
    readonly pveMessage: string,
    readonly errors?: Record<string, string>,
    /** Proxy-level failures (595, 596…) come without a body or content type. */
    readonly bodyless = false,
  ) {
    super(pveMessage.trim());
  }
}

/** `raise_param_exc`: 400 with per-parameter messages. */
export function paramError(errors: Record<string, string>): LabApiError {
  return new LabApiError(400, "Parameter verification failed.\n", errors);
}

/** A Perl `die "...\n"` inside an API handler: 500 with the text as message. */
export function dieError(text: string): LabApiError {
  return new LabApiError(500, text.endsWith("\n") ? text : `${text}\n`);
}

/** `raise_perm_exc`. */
export function permissionError(path: string, privileges: readonly string[]): LabApiError {
  return new LabApiError(403, `Permission check failed (${path}, ${privileges.join("|")})\n`);
}

/** pveproxy could not reach the node the request must be proxied to (AnyEvent::HTTP status 595). */
export function unreachableError(reason = "No route to host"): LabApiError {
  return new LabApiError(595, reason, undefined, true);
}

export function notImplemented(method: string, path: string): LabApiError {
  return new LabApiError(501, `Method '${method} ${path}' not implemented`);
}

/** What `PVE::Cluster::remote_node_ip` dies with for a name that is not a cluster node. */
export function unknownNodeError(node: string): LabApiError {
  return dieError(
    `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`,
  );
}
