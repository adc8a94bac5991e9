// One plain HTTP request to the engine, for the few answers dockerode does not
// hand over (the path stat in a HEAD reply's X-Docker-Container-Path-Stat header).
import http from 'node:http';
import { CliError } from './command-context.js';
import { requestTarget, type Endpoint } from './engine-endpoint.js';

export interface EngineReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function engineRequest(
  endpoint: Endpoint,
  method: string,
  pathAndQuery: string,
): Promise<EngineReply> {
  const { module, options } = requestTarget(endpoint);
  return new Promise((resolve, reject) => {
    const req = module.request({ ...options, method, path: pathAndQuery }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The reply body as a stream when the engine answers 2xx; the daemon's message as a CliError otherwise. */
export function engineStream(
  endpoint: Endpoint,
  method: string,
  pathAndQuery: string,
  headers: Record<string, string> = {},
): Promise<http.IncomingMessage> {
  const { module, options } = requestTarget(endpoint);
  return new Promise((resolve, reject) => {
    const req = module.request({ ...options, method, path: pathAndQuery, headers }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        resolve(res);
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        let message = body.trim();
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? message;
        } catch {
          // not JSON: the text as it came
        }
        reject(new CliError(`Error response from daemon: ${message}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}
