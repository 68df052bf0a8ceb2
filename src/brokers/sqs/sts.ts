/**
 * `stsRoleArn`: SQS calls signed with the temporary credentials of an assumed IAM role, as kombu's
 * `sts_role_arn` does. The provider is handed to the AWS SDK, which calls it again before the
 * credentials expire (five minutes ahead), so a long-running worker keeps valid credentials.
 */
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { BrokerConnectionError } from '../../errors.js';
import type { SqsCredentials } from './options.js';

export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Renew this long before expiry (the SDK's own margin is five minutes). */
const RENEW_BEFORE_MS = 5 * 60_000;

export interface AssumeRoleOptions {
  roleArn: string;
  /** Seconds the temporary credentials last (`stsTokenTimeout`, 900–43200). */
  durationSeconds: number;
  region: string;
  /** Credentials that assume the role; the default chain when absent. */
  baseCredentials?: SqsCredentials;
}

/** One provider shared by every SQS client of a broker, so they assume the role once per period. */
export function assumeRoleProvider(options: AssumeRoleOptions): { provider: () => Promise<TemporaryCredentials>; close(): void } {
  // The SDK reads AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL itself, for VPC endpoints and tests.
  const sts = new STSClient({ region: options.region, ...(options.baseCredentials ? { credentials: options.baseCredentials } : {}) });
  let current: Promise<TemporaryCredentials> | null = null;
  const assume = async (): Promise<TemporaryCredentials> => {
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: options.roleArn, RoleSessionName: 'celeriac', DurationSeconds: options.durationSeconds }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new BrokerConnectionError(`AssumeRole for ${options.roleArn} returned no credentials`);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  };
  const provider = async (): Promise<TemporaryCredentials> => {
    const held = current ? await current.catch(() => null) : null;
    if (held && (!held.expiration || held.expiration.getTime() - Date.now() > RENEW_BEFORE_MS)) return held;
    current = assume();
    return current;
  };
  return { provider, close: () => sts.destroy() };
}
