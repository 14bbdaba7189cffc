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
    /** IAM database authentication instead of the password (tokens per connection). */
    iamAuth: boolean;
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
  };

  logRetention: RetentionDays;
  natGateways: number;
  /** E-mail subscribed to the alarm topic. */
  alarmEmail?: string;
}

const DEV: Omit<EnvironmentConfig, 'image'> = {
  name: 'dev',
  db: {
    instanceType: 't4g.micro',
    multiAz: false,
    deletionProtection: false,
    backupRetentionDays: 1,
    allocatedStorageGb: 20,
    maxAllocatedStorageGb: 50,
    proxy: false,
    iamAuth: false,
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
  },
  logRetention: RetentionDays.ONE_WEEK,
  natGateways: 1,
};

const PROD: Omit<EnvironmentConfig, 'image'> = {
  name: 'prod',
  db: {
    instanceType: 'm7g.large',
    multiAz: true,
    deletionProtection: true,
    backupRetentionDays: 14,
    allocatedStorageGb: 100,
    maxAllocatedStorageGb: 500,
    proxy: false,
    iamAuth: false,
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
