/**
 * A local HTTP endpoint answering STS `AssumeRole` in the query protocol the AWS SDK speaks, for
 * testing `stsRoleArn` without AWS. It hands out numbered temporary keys with the expiry a test
 * chooses, and records each request's role, duration and signing key.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AssumeRoleCall {
  roleArn: string | null;
  durationSeconds: number | null;
  /** The access key id the request was signed with. */
  signedWith: string | undefined;
  issued: string;
}

export interface StsEndpoint {
  endpoint: string;
  readonly calls: AssumeRoleCall[];
  /** Seconds from now each new credential expires. */
  lifetimeSeconds: number;
  stop(): Promise<void>;
}

export async function startStsEndpoint(lifetimeSeconds = 3600): Promise<StsEndpoint> {
  const calls: AssumeRoleCall[] = [];
  const state = { lifetimeSeconds };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const issued = `ASIAROLE${calls.length + 1}`;
      calls.push({
        roleArn: form.get('RoleArn'),
        durationSeconds: form.has('DurationSeconds') ? Number(form.get('DurationSeconds')) : null,
        signedWith: /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1],
        issued,
      });
      const expiration = new Date(Date.now() + state.lifetimeSeconds * 1000).toISOString();
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
          `<Credentials><AccessKeyId>${issued}</AccessKeyId><SecretAccessKey>secret-${issued}</SecretAccessKey>` +
          `<SessionToken>token-${issued}</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
          `<AssumedRoleUser><AssumedRoleId>AROA:celeriac</AssumedRoleId><Arn>${form.get('RoleArn')}/celeriac</Arn></AssumedRoleUser>` +
          `</AssumeRoleResult><ResponseMetadata><RequestId>r-${calls.length}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    get lifetimeSeconds() {
      return state.lifetimeSeconds;
    },
    set lifetimeSeconds(value: number) {
      state.lifetimeSeconds = value;
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
