/**
 * The three listeners (spec §2.6): where they bind, HTTP or HTTPS, and the bind lines.
 *
 * Each API has its own Fastify instance. TorchServe merges inference and management into one
 * listener when both addresses are equal; we refuse that configuration instead (one auth hook per
 * listener; docs/compatibility.md). Port 0 binds a free port; the real one is reported.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ADDRESS_PATTERN, type Config } from '../config/schema.js';

export type ApiKind = 'inference' | 'management' | 'metrics';

export const API_LABELS: Readonly<Record<ApiKind, string>> = Object.freeze({
  inference: 'Inference',
  management: 'Management',
  metrics: 'Metrics',
});

export type ListenAddress = { scheme: 'http' | 'https'; host: string; port: number };

/** Ports used when an address has none (spec §2.6). */
const DEFAULT_PORTS: Record<ApiKind, { http: number; https: number }> = {
  inference: { http: 80, https: 443 },
  management: { http: 8081, https: 8444 },
  metrics: { http: 8082, https: 8445 },
};

/** `http(s)://HOST[:PORT]` -> scheme, host (IPv6 without brackets) and port. */
export function parseListenAddress(address: string, api: ApiKind): ListenAddress {
  const m = ADDRESS_PATTERN.exec(address.trim());
  if (!m) throw new Error(`Invalid binding address: ${address}`);
  const scheme = m[1].toLowerCase() as 'http' | 'https';
  const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
  const port = m[3] === undefined ? DEFAULT_PORTS[api][scheme] : Number(m[3]);
  return { scheme, host, port };
}

/** `http://127.0.0.1:8080` (IPv6 hosts in brackets). */
export function formatListenUrl(a: ListenAddress): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${a.scheme}://${host}:${a.port}`;
}

/** TorchServe's line: `Inference API bind to: http://127.0.0.1:8080`. */
export function bindLine(api: ApiKind, url: string): string {
  return `${API_LABELS[api]} API bind to: ${url}`;
}

export type PlannedListener = { api: ApiKind; address: ListenAddress };

/**
 * The listeners this config asks for: inference, management, and metrics when enable_metrics_api.
 * Throws if two share a fixed host and port.
 */
export function planListeners(config: Config): PlannedListener[] {
  const plan: PlannedListener[] = [
    { api: 'inference', address: parseListenAddress(config.inferenceAddress, 'inference') },
    { api: 'management', address: parseListenAddress(config.managementAddress, 'management') },
  ];
  if (config.enableMetricsApi) plan.push({ api: 'metrics', address: parseListenAddress(config.metricsAddress, 'metrics') });
  for (let i = 0; i < plan.length; i++) {
    for (let j = i + 1; j < plan.length; j++) {
      const a = plan[i].address;
      const b = plan[j].address;
      if (a.port !== 0 && a.port === b.port && a.host === b.host) {
        throw new Error(
          `${plan[i].api}_address and ${plan[j].api}_address are both ${a.host}:${a.port}; ` +
            'tsserve serves each API on its own listener, give them different ports',
        );
      }
    }
  }
  return plan;
}

/** Reads private_key_file and certificate_file when any planned listener is https. */
export function loadTls(config: Config, plan: readonly PlannedListener[]): { key: Buffer; cert: Buffer } | undefined {
  const https = plan.filter((p) => p.address.scheme === 'https');
  if (https.length === 0) return undefined;
  if (config.privateKeyFile === undefined || config.certificateFile === undefined) {
    throw new Error(`${https[0].api}_address is https but private_key_file and certificate_file are not both set`);
  }
  const read = (key: string, file: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read ${key} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { key: read('private_key_file', config.privateKeyFile), cert: read('certificate_file', config.certificateFile) };
}

/** Binds `app` to the address; returns the real URL (the bound port when the port was 0). */
export async function listenOn(app: FastifyInstance, address: ListenAddress): Promise<string> {
  try {
    await app.listen({ host: address.host, port: address.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new Error(`Failed to bind to address: ${formatListenUrl(address)} (${why})`, { cause: err });
  }
  const bound = app.server.address() as AddressInfo | string | null;
  const port = bound !== null && typeof bound === 'object' ? bound.port : address.port;
  return formatListenUrl({ ...address, port });
}
