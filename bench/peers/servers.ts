/**
 * The native peers of the side-by-side benchmark, from Debian's packages: nginx as a plain
 * pass-through proxy and HAProxy checking a `Bearer` JWT with `jwt_verify`. Each runs in the
 * foreground on loopback with a config written for the run, one worker (one thread), keep-alive
 * connections to the upstream (nginx `keepalive`, HAProxy's connection reuse), no access log.
 * A missing binary is not an error: `findPeer` says how to install it and the peer is skipped.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { findTool, freePort, startServer } from '../harness.js';

export interface PeerServer {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** The binary of a Debian-packaged peer, or undefined after printing the apt-get command that installs it. */
export function findPeer(binary: 'nginx' | 'haproxy'): string | undefined {
  const path = findTool(binary);
  if (path === undefined) console.error(`${binary}: not installed, skipped (install: apt-get update && apt-get install -y ${binary})`);
  else console.error(`${binary}: ${path}`);
  return path;
}

/** nginx as a pass-through reverse proxy to `upstreamUrl`. */
export async function startNginx(binary: string, dir: string, upstreamUrl: string, cpus?: string): Promise<PeerServer> {
  const port = await freePort();
  const upstream = new URL(upstreamUrl).host;
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  upstream app { server ${upstream}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const server = await startServer(binary, ['-p', dir, '-c', conf, '-g', 'daemon off;'], port, join(dir, 'nginx.out'), cpus);
  return { url: `http://127.0.0.1:${port}`, ...server };
}

/**
 * HAProxy verifying a `Bearer` JWT (ES256, the PEM public key in `publicKeyFile`): the `alg` must
 * be ES256, the signature valid, `iss` and `aud` ours and `exp` in the future; anything else is
 * 401. The tenant id goes upstream as a header, as the gateway's identity headers do.
 */
export async function startHaproxy(binary: string, dir: string, upstreamUrl: string, publicKeyFile: string, claims: { issuer: string; audience: string }, cpus?: string): Promise<PeerServer> {
  const port = await freePort();
  const upstream = new URL(upstreamUrl).host;
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend bench
  bind 127.0.0.1:${port}
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request deny deny_status 401 unless { var(txn.alg) -m str ES256 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"${publicKeyFile}") -m int 1 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.iss') -m str "${claims.issuer}" }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.aud') -m str "${claims.audience}" }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny deny_status 401 unless { var(txn.exp),sub(txn.now) -m int gt 0 }
  http-request set-header x-auth-tenant-id %[var(txn.bearer),jwt_payload_query('$.tenantId')]
  default_backend app
backend app
  server app ${upstream}
`,
  );
  const server = await startServer(binary, ['-f', conf, '-db'], port, join(dir, 'haproxy.out'), cpus);
  return { url: `http://127.0.0.1:${port}`, ...server };
}
