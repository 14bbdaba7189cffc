import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** Everything that differs between environments. bin/app.ts picks one by `-c env=<name>`. */
export interface EnvironmentConfig {
  /** Names resources and the stack (offbase-<name>). */
  name: string;
  /** Container image URI, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/offbase:1.4.2. */
  image: string;
  /** ACM certificate ARN: HTTPS on 443 and HTTP redirected to it. Without one: plain HTTP on 80. */
  certificateArn?: string;
  /** Refuse to synthesize without certificateArn (and alarmEmail, owner): production never serves plain HTTP. */
  strict: boolean;
  /** Only an image pinned by digest (…@sha256:…) deploys: a tag can move under a running service. */
  requireImageDigest: boolean;
  /** Who answers for the stack: the Owner tag (cost allocation, incident routing). */
  owner?: string;
  costCenter?: string;
  /** A WAFv2 web ACL on the load balancer: AWS common + known-bad-inputs rule groups, a per-IP rate rule. */
  waf: boolean;
  /** Requests per IP per 5 minutes before the WAF blocks the address. */
  wafRateLimitPer5Min: number;
  /** ALB access logs to an encrypted bucket, expired after this many days (0: no access logs). */
  accessLogDays: number;
  /** The SMTP port the tasks may reach (egress is otherwise 443 and the database only). */
  smtpPort: number;
  /** Public base URL of the API (PUBLIC_URL), used in e-mail links. */
  publicUrl?: string;
  corsOrigins?: string;

  db: {
    /** e.g. t4g.micro, m7g.large (the `db.` prefix is added). */
    instanceType: string;
    multiAz: boolean;
    deletionProtection: boolean;
    /** Days of automated backups; point-in-time recovery covers this window (1–35). */
    backupRetentionDays: number;
    allocatedStorageGb: number;
    maxAllocatedStorageGb: number;
    /** RDS Proxy in front of the instance: the service connects through it with DB_PREPARE=false. */
    proxy: boolean;
    /** IAM database authentication for the app and migration roles (tokens per connection, nothing to rotate). */
    iamAuth: boolean;
    /** Performance Insights and Enhanced Monitoring (seconds between samples; 0 turns it off). */
    performanceInsights: boolean;
    monitoringIntervalS: number;
    /** What the freeable-memory alarm fires below, in MiB. */
    freeableMemoryAlarmMiB: number;
    /** What the connections alarm fires at; keep it under max_connections of the instance class. */
    connectionsAlarmThreshold: number;
    removalPolicy: RemovalPolicy;
  };

  service: {
    cpu: number;
    memoryMiB: number;
    desiredCount: number;
    minTasks: number;
    maxTasks: number;
    /** DB_POOL_MAX per task. maxTasks × poolMax + headroom must stay under max_connections. */
    poolMax: number;
    cpuTargetPercent: number;
    requestsPerTargetPerMinute: number;
    arm64: boolean;
    /** DB_BOOT_WAIT_S: how long a booting task waits for the database (a Multi-AZ failover takes 60–120 s). */
    dbBootWaitS: number;
    /** SHUTDOWN_TIMEOUT_MS of the app; the container's stopTimeout stays above it. */
    shutdownTimeoutMs: number;
  };

  logRetention: RetentionDays;
  natGateways: number;
  /** E-mail subscribed to the alarm topic. */
  alarmEmail?: string;
}

const DEV: Omit<EnvironmentConfig, 'image'> = {
  name: 'dev',
  strict: false,
  requireImageDigest: false,
  waf: false,
  wafRateLimitPer5Min: 2000,
  accessLogDays: 0,
  smtpPort: 587,
  db: {
    instanceType: 't4g.micro',
    multiAz: false,
    deletionProtection: false,
    backupRetentionDays: 1,
    allocatedStorageGb: 20,
    maxAllocatedStorageGb: 50,
    proxy: false,
    iamAuth: false,
    performanceInsights: true,
    monitoringIntervalS: 60,
    freeableMemoryAlarmMiB: 100,
    // t4g.micro: max_connections ≈ 80 (RDS default formula on 1 GiB).
    connectionsAlarmThreshold: 60,
    removalPolicy: RemovalPolicy.DESTROY,
  },
  service: {
    cpu: 256,
    memoryMiB: 512,
    desiredCount: 1,
    minTasks: 1,
    maxTasks: 2,
    poolMax: 10,
    cpuTargetPercent: 70,
    requestsPerTargetPerMinute: 1000,
    arm64: false,
    dbBootWaitS: 120,
    shutdownTimeoutMs: 20_000,
  },
  logRetention: RetentionDays.ONE_WEEK,
  natGateways: 1,
};

const PROD: Omit<EnvironmentConfig, 'image'> = {
  name: 'prod',
  strict: true,
  requireImageDigest: true,
  waf: true,
  wafRateLimitPer5Min: 2000,
  accessLogDays: 365,
  smtpPort: 587,
  db: {
    instanceType: 'm7g.large',
    multiAz: true,
    deletionProtection: true,
    backupRetentionDays: 14,
    allocatedStorageGb: 100,
    maxAllocatedStorageGb: 500,
    proxy: false,
    iamAuth: true,
    performanceInsights: true,
    monitoringIntervalS: 15,
    freeableMemoryAlarmMiB: 1024,
    // m7g.large (8 GiB): max_connections ≈ 900; 10 tasks × 20 + migrations + admin stays far below.
    connectionsAlarmThreshold: 600,
    removalPolicy: RemovalPolicy.SNAPSHOT,
  },
  service: {
    cpu: 1024,
    memoryMiB: 2048,
    desiredCount: 2,
    minTasks: 2,
    maxTasks: 10,
    poolMax: 20,
    cpuTargetPercent: 60,
    requestsPerTargetPerMinute: 3000,
    arm64: false,
    dbBootWaitS: 180,
    shutdownTimeoutMs: 20_000,
  },
  logRetention: RetentionDays.THREE_MONTHS,
  natGateways: 2,
};

export const ENVIRONMENTS: Record<string, Omit<EnvironmentConfig, 'image'>> = { dev: DEV, prod: PROD };

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

/** A named preset with the image and any overrides applied. */
export function environment(name: string, image: string, overrides: DeepPartial<EnvironmentConfig> = {}): EnvironmentConfig {
  const base = ENVIRONMENTS[name];
  if (!base) throw new Error(`unknown environment "${name}" (known: ${Object.keys(ENVIRONMENTS).join(', ')})`);
  return {
    ...base,
    ...overrides,
    image,
    db: { ...base.db, ...overrides.db },
    service: { ...base.service, ...overrides.service },
  } as EnvironmentConfig;
}

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * The image reference the task definitions run, from `-c image=…` and optionally
 * `-c imageDigest=sha256:…` (the repository URI without a tag, plus the digest `docker push` or
 * `aws ecr describe-images` printed). Both forms give `<repository>@sha256:<digest>`; a digest is
 * never combined with a tag, whose meaning could differ from the digest's.
 */
export function imageReference(image: string, digest?: string): string {
  if (digest === undefined) return image;
  if (!SHA256_DIGEST.test(digest)) throw new Error(`imageDigest must be sha256:<64 lowercase hex digits>, got "${digest}"`);
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  if (image.includes('@') || lastSegment.includes(':')) {
    throw new Error(`with imageDigest, pass the repository without a tag or digest (got image=${image})`);
  }
  return `${image}@${digest}`;
}
