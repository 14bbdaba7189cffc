import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CURRENTLY_RECOMMENDED_FLAGS } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { environment, imageReference, type EnvironmentConfig } from '../lib/environments.js';
import { OffbaseStack, RDS_CA_REGIONS } from '../lib/offbase-stack.js';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/offbase:1.0.0';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const PROD_IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/offbase@${DIGEST}`;
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
const DB_SECRET_NAMES = ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_PASSWORD'];
const JWT_SECRET_NAMES = ['JWT_SECRET', 'JWT_PREVIOUS_SECRETS', 'MFA_ENCRYPTION_KEY'];
const PROD = { certificateArn: CERT, alarmEmail: 'ops@example.com', owner: 'platform-team' };

// The same context `cdk synth` uses: the feature flags and template validation of cdk.json.
const CDK_CONTEXT = (JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as { context: Record<string, unknown> }).context;

function stackOf(config: EnvironmentConfig): OffbaseStack {
  const app = new App({ context: CDK_CONTEXT });
  return new OffbaseStack(app, `offbase-${config.name}`, { config, env: { account: '123456789012', region: 'eu-west-1' } });
}
const synth = (config: EnvironmentConfig): Template => Template.fromStack(stackOf(config));

type Resource = { Type: string; Properties: Record<string, unknown> };
type Container = {
  Name: string;
  Image?: unknown;
  Command?: string[];
  Environment?: { Name: string; Value: unknown }[];
  Secrets?: { Name: string; ValueFrom: unknown }[];
};

const only = (t: Template, type: string): Resource => {
  const all = Object.values(t.findResources(type)) as Resource[];
  expect(all, type).toHaveLength(1);
  return all[0]!;
};
const logicalId = (t: Template, type: string, match: (r: Resource) => boolean): string => {
  const found = Object.entries(t.findResources(type) as Record<string, Resource>).filter(([, r]) => match(r));
  expect(found, type).toHaveLength(1);
  return found[0]![0];
};
const sgId = (t: Template, description: string) =>
  logicalId(t, 'AWS::EC2::SecurityGroup', (r) => r.Properties.GroupDescription === description);
const containers = (t: Template): Container[] =>
  (Object.values(t.findResources('AWS::ECS::TaskDefinition')) as Resource[]).flatMap((r) => r.Properties.ContainerDefinitions as Container[]);
const container = (t: Template, name: string) => containers(t).find((c) => c.Name === name)!;
const env = (c: Container) => Object.fromEntries((c.Environment ?? []).map((e) => [e.Name, e.Value]));
const secretNames = (c: Container) => (c.Secrets ?? []).map((s) => s.Name).sort();

/** Every ingress rule, inline or standalone, as { group, from, port, cidr, sourceGroup }. */
function ingress(t: Template) {
  const rules: { group: string; port?: number; cidr?: string; source?: string }[] = [];
  for (const [id, r] of Object.entries(t.findResources('AWS::EC2::SecurityGroup') as Record<string, Resource>)) {
    for (const rule of (r.Properties.SecurityGroupIngress ?? []) as Record<string, unknown>[]) {
      rules.push({ group: id, port: portOf(rule.FromPort), cidr: (rule.CidrIp ?? rule.CidrIpv6) as string, source: ref(rule.SourceSecurityGroupId) });
    }
  }
  for (const r of Object.values(t.findResources('AWS::EC2::SecurityGroupIngress')) as Resource[]) {
    const p = r.Properties;
    rules.push({ group: ref(p.GroupId)!, port: portOf(p.FromPort), cidr: (p.CidrIp ?? p.CidrIpv6) as string, source: ref(p.SourceSecurityGroupId) });
  }
  return rules;
}
const portOf = (p: unknown) => (typeof p === 'number' ? p : JSON.stringify(p).includes('Endpoint.Port') ? 5432 : -1);
function ref(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as { 'Fn::GetAtt'?: string[]; Ref?: string };
  return v['Fn::GetAtt']?.[0] ?? v.Ref;
}

let dev: Template;
let prod: Template;
let prodDirect: Template;
let iam: Template;
let devProxy: Template;
beforeAll(() => {
  dev = synth(environment('dev', IMAGE));
  prod = synth(environment('prod', PROD_IMAGE, { ...PROD, db: { proxy: true } }));
  prodDirect = synth(environment('prod', PROD_IMAGE, PROD));
  iam = synth(environment('dev', IMAGE, { db: { iamAuth: true } }));
  devProxy = synth(environment('dev', IMAGE, { db: { proxy: true } }));
});
const all = () => [dev, prod, prodDirect, iam, devProxy];

describe('network', () => {
  it('a VPC over two availability zones with public, private and isolated subnets', () => {
    for (const t of [dev, prod]) {
      const subnets = Object.values(t.findResources('AWS::EC2::Subnet')) as Resource[];
      expect(subnets).toHaveLength(6);
      const azs = new Set(subnets.map((s) => JSON.stringify(s.Properties.AvailabilityZone)));
      expect(azs.size).toBe(2);
    }
    expect(Object.keys(dev.findResources('AWS::EC2::NatGateway'))).toHaveLength(1);
    expect(Object.keys(prod.findResources('AWS::EC2::NatGateway'))).toHaveLength(2);
  });
});

describe('database', () => {
  it('PostgreSQL in isolated subnets, not publicly accessible, encrypted, TLS forced', () => {
    for (const t of [dev, prod]) {
      const db = only(t, 'AWS::RDS::DBInstance').Properties;
      expect(db.Engine).toBe('postgres');
      expect(db.PubliclyAccessible).toBe(false);
      expect(db.StorageEncrypted).toBe(true);
      const group = only(t, 'AWS::RDS::DBSubnetGroup').Properties.SubnetIds as { Ref: string }[];
      expect(group).toHaveLength(2);
      for (const s of group) expect(s.Ref).toMatch(/^Vpcdb/);
      t.hasResourceProperties('AWS::RDS::DBParameterGroup', { Parameters: Match.objectLike({ 'rds.force_ssl': '1' }) });
    }
  });

  it('backups with point-in-time recovery, Multi-AZ, deletion protection and size per environment', () => {
    const d = only(dev, 'AWS::RDS::DBInstance');
    const p = only(prod, 'AWS::RDS::DBInstance');
    expect(d.Properties).toMatchObject({ MultiAZ: false, DeletionProtection: false, BackupRetentionPeriod: 1, DBInstanceClass: 'db.t4g.micro' });
    expect(p.Properties).toMatchObject({ MultiAZ: true, DeletionProtection: true, BackupRetentionPeriod: 14, DBInstanceClass: 'db.m7g.large' });
    expect((p as unknown as { DeletionPolicy: string }).DeletionPolicy).toBe('Snapshot');
  });

  it('credentials are generated into Secrets Manager, never written in the template', () => {
    const db = only(dev, 'AWS::RDS::DBInstance').Properties;
    for (const role of ['app', 'migrate']) {
      dev.hasResourceProperties('AWS::SecretsManager::Secret', {
        Name: `offbase/dev/db-${role}`,
        GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', SecretStringTemplate: Match.stringLikeRegexp(`"username":"offbase_${role}"`) }),
      });
    }
    expect(JSON.stringify(db.MasterUserPassword)).toContain('resolve:secretsmanager');
    dev.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'offbase/dev/db',
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', SecretStringTemplate: '{"username":"offbase"}' }),
    });
    dev.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'offbase/dev/jwt', GenerateSecretString: Match.objectLike({ PasswordLength: 64 }) });
    // The master secret and the two role secrets carry the instance's host, port and dbname.
    dev.resourceCountIs('AWS::SecretsManager::SecretTargetAttachment', 3);
  });

  it('RDS Proxy only when asked for, requiring TLS, with a name unique to the stack', () => {
    dev.resourceCountIs('AWS::RDS::DBProxy', 0);
    prod.hasResourceProperties('AWS::RDS::DBProxy', { EngineFamily: 'POSTGRESQL', RequireTLS: true });
    for (const t of [prod, devProxy]) {
      const name = only(t, 'AWS::RDS::DBProxy').Properties.DBProxyName as string;
      expect(name).not.toBe('Proxy');
      expect(name).toMatch(/offbase(dev|prod)/);
    }
  });
});

describe('security groups', () => {
  it('nothing reaches the database from 0.0.0.0/0; only the tasks, the proxy and the secret rotation reach 5432', () => {
    for (const [t, allowed] of [
      [dev, ['offbase tasks (service and migrate)', 'offbase-dev/Db/RotationSingleUser/SecurityGroup']],
      [prod, ['offbase tasks (service and migrate)', 'offbase RDS Proxy', 'offbase-prod/Db/RotationSingleUser/SecurityGroup']],
    ] as const) {
      const db = sgId(t, 'offbase database');
      const rules = ingress(t).filter((r) => r.group === db);
      expect(rules.length).toBe(allowed.length);
      for (const r of rules) {
        expect(r.cidr).toBeUndefined();
        expect(r.port).toBe(5432);
      }
      expect(rules.map((r) => r.source).sort()).toEqual(allowed.map((d) => sgId(t, d)).sort());
    }
  });

  it('through the proxy, only the tasks reach the proxy', () => {
    const rules = ingress(prod).filter((r) => r.group === sgId(prod, 'offbase RDS Proxy'));
    expect(rules).toEqual([{ group: sgId(prod, 'offbase RDS Proxy'), port: 5432, cidr: undefined, source: sgId(prod, 'offbase tasks (service and migrate)') }]);
  });

  it('only the load balancer reaches the service, on the app port', () => {
    for (const t of [dev, prod]) {
      const svc = sgId(t, 'offbase tasks (service and migrate)');
      const rules = ingress(t).filter((r) => r.group === svc);
      expect(rules).toEqual([{ group: svc, port: 3000, cidr: undefined, source: sgId(t, 'offbase load balancer') }]);
    }
  });

  it('the internet reaches only the load balancer', () => {
    for (const t of [dev, prod]) {
      const alb = sgId(t, 'offbase load balancer');
      const open = ingress(t).filter((r) => r.cidr === '0.0.0.0/0' || r.cidr === '::/0');
      expect(open.length).toBeGreaterThan(0);
      for (const r of open) expect(r.group).toBe(alb);
    }
  });
});

describe('service', () => {
  it('Fargate in private subnets, ECS Exec, circuit breaker with rollback', () => {
    for (const t of [dev, prod]) {
      t.hasResourceProperties('AWS::ECS::Service', {
        LaunchType: 'FARGATE',
        EnableExecuteCommand: true,
        DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100 }),
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
      });
    }
    dev.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 1 });
    prod.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 2 });
  });

  it("every container's V8 heap limit is at most half of its task's memory (the API's exactly), and the image's default is the prod task's", () => {
    for (const t of all()) {
      for (const r of Object.values(t.findResources('AWS::ECS::TaskDefinition')) as Resource[]) {
        const taskMiB = Number(r.Properties.Memory);
        for (const c of r.Properties.ContainerDefinitions as Container[]) {
          const heapMiB = Number(/^--max-old-space-size=(\d+)$/.exec(String(env(c).NODE_OPTIONS ?? ''))?.[1]);
          if (c.Name === 'api') expect(heapMiB, c.Name).toBe(taskMiB / 2);
          else expect(heapMiB, c.Name).toBeLessThanOrEqual(taskMiB / 2);
        }
      }
    }
    expect(env(container(dev, 'api')).NODE_OPTIONS).toBe('--max-old-space-size=256');
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    expect(runtime).toContain(`NODE_OPTIONS="${env(container(prod, 'api')).NODE_OPTIONS}"`);
  });

  it('secrets come from Secrets Manager as ECS secrets; no secret in the plain environment', () => {
    for (const t of all()) {
      for (const c of containers(t)) {
        const plain = env(c);
        for (const name of ['DB_PASSWORD', 'JWT_SECRET', 'JWT_PREVIOUS_SECRETS', 'DATABASE_URL', 'DATABASE_MIGRATION_URL', 'METRICS_TOKEN']) expect(plain).not.toHaveProperty(name);
        expect(JSON.stringify(c.Environment ?? [])).not.toMatch(/secretsmanager|password/i);
        for (const s of c.Secrets ?? []) expect(JSON.stringify(s.ValueFrom)).toMatch(/Secret/);
      }
    }
    expect(secretNames(container(dev, 'api'))).toEqual([...DB_SECRET_NAMES, ...JWT_SECRET_NAMES].sort());
    // Migrations never see a JWT key: the migrate task does not need one.
    for (const name of ['migrate', 'migrate-on-boot', 'bootstrap-roles']) expect(secretNames(container(dev, name))).toEqual(expect.arrayContaining(DB_SECRET_NAMES));
    for (const t of all()) {
      for (const name of ['migrate', 'migrate-on-boot', 'bootstrap-roles']) {
        expect(secretNames(container(t, name)).filter((n) => n.startsWith('JWT'))).toEqual([]);
      }
    }
  });

  it('every container that connects verifies the database against the bundle at the path the Dockerfile puts it', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const runtime = dockerfile.slice(dockerfile.indexOf('AS runtime'));
    const bundlePath = /DB_SSL_CA=(\S+)/.exec(runtime)?.[1];
    expect(bundlePath).toBeTruthy();
    expect(runtime).toMatch(new RegExp(`^COPY --from=build --chmod=0644 \\S+ ${bundlePath}$`, 'm'));
    for (const t of all()) {
      for (const c of containers(t)) expect(env(c), c.Name).toMatchObject({ DB_SSL: 'verify-full', DB_SSL_CA: bundlePath });
    }
  });

  it('synthesizes only in regions whose RDS root CA is in the image bundle (the list matches the bundle)', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const dir = mkdtempSync(path.join(tmpdir(), 'offbase-infra-ca-'));
    try {
      execFileSync(process.execPath, [path.join(root, 'scripts/rds-ca-bundle.mjs'), path.join(dir, 'bundle.pem')], { cwd: root });
      const pems = readFileSync(path.join(dir, 'bundle.pem'), 'utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)!;
      const regions = new Set<string>();
      for (const pem of pems) {
        const m = /CN=Amazon RDS ([a-z]+-[a-z]+-\d) Root CA RSA2048 G1$/m.exec(new X509Certificate(pem).subject);
        if (m) regions.add(m[1]!);
      }
      expect([...RDS_CA_REGIONS].sort()).toEqual([...regions].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const inRegion = (region: string | undefined) => () =>
      new OffbaseStack(new App({ context: CDK_CONTEXT }), 'offbase-dev', { config: environment('dev', IMAGE), env: region ? { account: '123456789012', region } : undefined });
    expect(inRegion('il-central-1')).toThrow(/il-central-1: the image's RDS CA bundle has no root CA for this region/);
    expect(inRegion('us-east-1')).not.toThrow();
    // Environment-agnostic synthesis (no region known yet) is not refused.
    expect(inRegion(undefined)).not.toThrow();
  });

  it('production settings: TLS verified against the RDS CA bundle; every task migrates in its own container before the API starts', () => {
    const e = env(container(dev, 'api'));
    expect(e).toMatchObject({ NODE_ENV: 'production', DB_SSL: 'verify-full', DB_SSL_CA: '/etc/ssl/rds/global-bundle.pem', MIGRATE_ON_BOOT: 'false', TRUST_PROXY: '1', DB_POOL_MAX: '10' });
    expect(e).not.toHaveProperty('DB_PREPARE');
    expect(JSON.stringify(e.PUBLIC_URL)).toMatch(/http:\/\/.*Alb.*DNSName/);
    expect(container(dev, 'api').Command).toBeUndefined();
    expect(containers(dev).map((c) => c.Name).sort()).toEqual(['api', 'bootstrap-roles', 'migrate', 'migrate-on-boot']);
    for (const t of all()) {
      const onBoot = container(t, 'migrate-on-boot') as Container & { Essential: boolean };
      expect(onBoot).toMatchObject({ Essential: false, Command: ['node', 'dist/cli.js', 'migrate'] });
      expect(env(onBoot)).not.toHaveProperty('DB_PREPARE');
      expect(container(t, 'api')).toMatchObject({ DependsOn: [{ ContainerName: 'migrate-on-boot', Condition: 'SUCCESS' }] });
    }
  });

  it('with RDS Proxy: the service goes through the proxy with DB_PREPARE=false; migrations use the direct endpoint', () => {
    for (const t of [prod, devProxy]) {
      const api = container(t, 'api');
      const e = env(api);
      expect(e).toMatchObject({ DB_PREPARE: 'false', MIGRATE_ON_BOOT: 'false' });
      expect(JSON.stringify(e.DB_HOST)).toContain('Proxy');
      expect(secretNames(api)).not.toContain('DB_HOST');
      for (const name of ['migrate', 'migrate-on-boot']) {
        const c = container(t, name);
        const host = JSON.stringify(env(c).DB_HOST ?? c.Secrets?.find((s) => s.Name === 'DB_HOST'));
        expect(host).not.toContain('Proxy');
        expect(host).toMatch(/Db(Migrate|5D02)/);
      }
    }
  });

  it('separate one-off task definitions run only `migrate` and only `db:bootstrap-roles`', () => {
    expect(container(dev, 'migrate').Command).toEqual(['node', 'dist/cli.js', 'migrate']);
    expect(container(dev, 'bootstrap-roles').Command).toEqual(['node', 'dist/cli.js', 'db:bootstrap-roles', '--app-role', 'offbase_app', '--migrate-role', 'offbase_migrate']);
    expect(container(iam, 'bootstrap-roles').Command).toContain('--iam');
    dev.resourceCountIs('AWS::ECS::TaskDefinition', 3);
    dev.resourceCountIs('AWS::ECS::Service', 1);
  });

  it('IAM database auth: no password injected, short connection lifetime, rds-db:connect granted per role', () => {
    for (const t of [iam, prod, prodDirect]) {
      for (const name of ['api', 'migrate', 'migrate-on-boot']) {
        const c = container(t, name);
        expect(secretNames(c)).not.toContain('DB_PASSWORD');
        expect(env(c)).toMatchObject({ DB_IAM_AUTH: 'true', DB_MAX_LIFETIME_S: '600' });
      }
      expect(only(t, 'AWS::RDS::DBInstance').Properties.EnableIAMDatabaseAuthentication).toBe(true);
      const connects = (Object.values(t.findResources('AWS::IAM::Policy')) as Resource[])
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement)
        .filter((st) => st.Action === 'rds-db:connect')
        .map((st) => JSON.stringify(st.Resource));
      expect(connects.some((r) => r.includes('/offbase_app'))).toBe(true);
      expect(connects.some((r) => r.includes('/offbase_migrate'))).toBe(true);
      // Nobody may log in as the master user with a token.
      expect(connects.some((r) => r.includes('/offbase"'))).toBe(false);
    }
    // No role passwords exist at all with IAM auth: nothing to leak, nothing to rotate.
    for (const t of [iam, prod]) {
      const names = (Object.values(t.findResources('AWS::SecretsManager::Secret')) as Resource[]).map((r) => r.Properties.Name);
      expect(names).not.toContain(expect.stringMatching(/db-(app|migrate)$/));
    }
  });

  it('pulls the ECR image with permissions granted to the execution role', () => {
    expect(JSON.stringify(container(dev, 'api'))).toContain('offbase:1.0.0');
    dev.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['ecr:BatchGetImage']), Effect: 'Allow' })]) },
    });
  });

  it('logs go to a log group with retention per environment', () => {
    dev.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    prod.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    for (const c of containers(dev)) expect(JSON.stringify(c)).toContain('awslogs');
  });
});

describe('load balancer', () => {
  it('health checks /health/live (never the database) with a short deregistration delay', () => {
    for (const t of all()) {
      t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckPath: '/health/live',
        Port: 3000,
        TargetType: 'ip',
        TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '15' }]),
      });
    }
  });

  it('HTTPS with the certificate, and HTTP redirected to it, when a certificate ARN is given', () => {
    prod.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERT }],
    });
    prod.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }) })],
    });
    prod.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
  });

  it('plain HTTP forwarding without a certificate', () => {
    dev.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    dev.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP', DefaultActions: [Match.objectLike({ Type: 'forward' })] });
  });
});

describe('scaling and alarms', () => {
  it('scales on CPU and on requests per target between the environment bounds', () => {
    dev.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 1, MaxCapacity: 2 });
    prod.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 10 });
    for (const metric of ['ECSServiceAverageCPUUtilization', 'ALBRequestCountPerTarget']) {
      prod.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({ PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: metric }) }),
      });
    }
  });

  it('alarms on 5xx rate, latency, unhealthy hosts, running tasks, memory, RDS CPU, memory, connections and free storage, all to the alarm topic', () => {
    const alarms = Object.values(prod.findResources('AWS::CloudWatch::Alarm')) as Resource[];
    const text = alarms.map((a) => JSON.stringify(a.Properties));
    const has = (...parts: string[]) => expect(text.filter((t) => parts.every((p) => t.includes(p))), parts.join(' ')).toHaveLength(1);
    has('HTTPCode_Target_5XX_Count', 'HTTPCode_ELB_5XX_Count', 'RequestCount');
    has('"MetricName":"TargetResponseTime"', '"ExtendedStatistic":"p95"');
    has('"Namespace":"AWS/RDS"', '"MetricName":"CPUUtilization"');
    has('"MetricName":"DatabaseConnections"');
    has('"MetricName":"FreeStorageSpace"');
    has('"MetricName":"UnHealthyHostCount"');
    has('"MetricName":"RunningTaskCount"', 'ECS/ContainerInsights');
    has('"Namespace":"AWS/ECS"', '"MetricName":"MemoryUtilization"');
    has('"MetricName":"FreeableMemory"');
    for (const a of alarms) expect(JSON.stringify(a.Properties.AlarmActions)).toContain('Alarms');
    prod.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});

const alarmByMetric = (t: Template, metric: string) =>
  (Object.values(t.findResources('AWS::CloudWatch::Alarm')) as Resource[]).find((a) => JSON.stringify(a.Properties).includes(metric))!.Properties;
const apiContainer = (t: Template) =>
  container(t, 'api') as Container & { StopTimeout: number; HealthCheck?: { Command: string[]; StartPeriod: number } };
const policyStatements = (t: Template) =>
  (Object.values(t.findResources('AWS::IAM::Policy')) as Resource[]).flatMap(
    (p) => (p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement,
  );

describe('CDK feature flags', () => {
  it('cdk.json sets every flag aws-cdk-lib recommends for this version, at the recommended value', () => {
    for (const [flag, value] of Object.entries(CURRENTLY_RECOMMENDED_FLAGS)) expect(CDK_CONTEXT[flag], flag).toEqual(value);
  });

  it('their effects: no log permissions on *, the VPC default security group closed', () => {
    for (const t of all()) {
      const logsOnStar = policyStatements(t).filter(
        (st) => [st.Action].flat().some((a) => a === 'logs:CreateLogStream' || a === 'logs:PutLogEvents') && JSON.stringify(st.Resource) === '"*"',
      );
      expect(logsOnStar).toEqual([]);
      t.resourceCountIs('Custom::VpcRestrictDefaultSG', 1);
    }
  });
});

describe('failover: a database outage answers 503 and recovers without replacing tasks', () => {
  it('neither the load balancer nor the container health check asks the database', () => {
    for (const t of all()) {
      const tg = only(t, 'AWS::ElasticLoadBalancingV2::TargetGroup').Properties;
      expect(tg.HealthCheckPath).toBe('/health/live');
      const check = apiContainer(t).HealthCheck!;
      expect(check.Command.join(' ')).toContain('/health/live');
      expect(check.Command.join(' ')).not.toContain('/health/ready');
    }
  });

  it('a booting task waits out a 60–120 s failover; the health checks give it that long', () => {
    for (const t of all()) {
      for (const name of ['api', 'migrate', 'migrate-on-boot']) {
        expect(Number(env(container(t, name)).DB_BOOT_WAIT_S), name).toBeGreaterThanOrEqual(120);
      }
      const wait = Number(env(container(t, 'api')).DB_BOOT_WAIT_S);
      expect(apiContainer(t).HealthCheck!.StartPeriod).toBeGreaterThanOrEqual(Math.min(300, wait));
      const svc = only(t, 'AWS::ECS::Service').Properties;
      expect(svc.HealthCheckGracePeriodSeconds).toBeGreaterThanOrEqual(Math.min(300, wait));
    }
  });
});

describe('database roles', () => {
  it('the API connects as offbase_app, migrations as offbase_migrate, only the bootstrap task as the master user', () => {
    const user = (c: Container) => JSON.stringify(env(c).DB_USER ?? c.Secrets?.find((s) => s.Name === 'DB_USER')?.ValueFrom);
    for (const t of [iam, prod]) {
      expect(env(container(t, 'api')).DB_USER).toBe('offbase_app');
      for (const name of ['migrate', 'migrate-on-boot']) expect(env(container(t, name)).DB_USER).toBe('offbase_migrate');
    }
    for (const t of [dev, devProxy]) {
      expect(user(container(t, 'api'))).toContain('DbAppSecret');
      for (const name of ['migrate', 'migrate-on-boot']) expect(user(container(t, name))).toContain('DbMigrateSecret');
    }
    for (const t of all()) {
      for (const c of containers(t).filter((c) => c.Name !== 'bootstrap-roles')) expect(JSON.stringify(c.Secrets ?? [])).not.toMatch(/DbSecret[0-9A-F]/);
      expect(JSON.stringify(container(t, 'bootstrap-roles').Secrets)).toMatch(/DbSecret/);
      // Migrations grant the app role its rights on every table they create.
      for (const name of ['migrate', 'migrate-on-boot']) expect(env(container(t, name)).DB_APP_ROLE).toBe('offbase_app');
    }
    // With passwords, the bootstrap task sets each role's password from its own secret.
    expect(secretNames(container(dev, 'bootstrap-roles'))).toEqual(expect.arrayContaining(['DB_APP_PASSWORD', 'DB_MIGRATE_PASSWORD']));
    expect(secretNames(container(iam, 'bootstrap-roles'))).not.toContain('DB_APP_PASSWORD');
  });

  it('through the proxy: end-to-end IAM in prod (no secret), the app secret otherwise', () => {
    const p = only(prod, 'AWS::RDS::DBProxy').Properties;
    expect(p.DefaultAuthScheme).toBe('IAM_AUTH');
    expect(p.Auth).toBeUndefined();
    const d = only(devProxy, 'AWS::RDS::DBProxy').Properties;
    expect(JSON.stringify(d.Auth)).toContain('DbAppSecret');
  });
});

describe('secret rotation', () => {
  it('the master secret rotates every 30 days', () => {
    for (const t of all()) {
      t.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
        SecretId: { Ref: Match.stringLikeRegexp('^DbSecretAttachment') },
        RotationRules: Match.objectLike({ ScheduleExpression: 'rate(30 days)' }),
      });
    }
  });

  it('the API gets the current JWT key and the previous ones, each from its own secret', () => {
    for (const t of all()) expect(secretNames(container(t, 'api'))).toEqual(expect.arrayContaining(JWT_SECRET_NAMES));
    dev.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'offbase/dev/jwt-previous' });
  });

  it('prod keeps its secrets when the stack is deleted; dev does not', () => {
    for (const r of Object.values(prod.findResources('AWS::SecretsManager::Secret')) as (Resource & { DeletionPolicy?: string })[]) expect(r.DeletionPolicy).toBe('Retain');
    for (const r of Object.values(dev.findResources('AWS::SecretsManager::Secret')) as (Resource & { DeletionPolicy?: string })[]) expect(r.DeletionPolicy).toBe('Delete');
  });
});

describe('edge: WAF, access logs, TLS', () => {
  it('prod has a WAFv2 web ACL on the load balancer: AWS common and known-bad-inputs groups and a per-IP rate rule', () => {
    const acl = only(prod, 'AWS::WAFv2::WebACL').Properties;
    expect(acl).toMatchObject({ Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
    const rules = acl.Rules as { Name: string; Statement: Record<string, { Name?: string; Limit?: number; AggregateKeyType?: string; RuleActionOverrides?: unknown[] }>; Action?: unknown }[];
    const groups = rules.map((r) => r.Statement.ManagedRuleGroupStatement?.Name).filter(Boolean);
    expect(groups).toEqual(['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet']);
    const rate = rules.find((r) => r.Statement.RateBasedStatement)!;
    expect(rate.Statement.RateBasedStatement).toMatchObject({ AggregateKeyType: 'IP', Limit: 2000 });
    expect(rate.Action).toEqual({ Block: {} });
    // Document bodies exceed the common rule set's 8 KB limit: that one rule only counts.
    expect(rules[0]!.Statement.ManagedRuleGroupStatement!.RuleActionOverrides).toEqual([{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }]);
    const assoc = only(prod, 'AWS::WAFv2::WebACLAssociation').Properties;
    expect(JSON.stringify(assoc.ResourceArn)).toContain('Alb');
    dev.resourceCountIs('AWS::WAFv2::WebACL', 0);
  });

  it('prod writes ALB access logs to an encrypted, private, TLS-only bucket with a lifecycle', () => {
    const attrs = only(prod, 'AWS::ElasticLoadBalancingV2::LoadBalancer').Properties.LoadBalancerAttributes as { Key: string; Value: string }[];
    expect(attrs).toEqual(expect.arrayContaining([{ Key: 'access_logs.s3.enabled', Value: 'true' }]));
    const bucket = only(prod, 'AWS::S3::Bucket').Properties;
    expect(bucket).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    expect(JSON.stringify(bucket.LifecycleConfiguration)).toContain('"ExpirationInDays":365');
    prod.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    dev.resourceCountIs('AWS::S3::Bucket', 0);
  });

  it('the HTTPS listener keeps the recommended TLS 1.2+/1.3 policy', () => {
    prod.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Protocol: 'HTTPS', SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06' });
  });

  it('the load balancer drops invalid header fields, and is deletion-protected in prod', () => {
    for (const t of all()) {
      const attrs = only(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer').Properties.LoadBalancerAttributes as { Key: string; Value: string }[];
      expect(attrs).toEqual(expect.arrayContaining([{ Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' }]));
      const protectedLb = attrs.find((a) => a.Key === 'deletion_protection.enabled')?.Value === 'true';
      expect(protectedLb).toBe(t === prod || t === prodDirect);
    }
  });
});

describe('prod refuses to synthesize what it must not deploy', () => {
  it('without a certificate (plain HTTP), an alarm e-mail, an owner, or with an image tag instead of a digest', () => {
    const { certificateArn: _c, ...noCert } = PROD;
    expect(() => stackOf(environment('prod', PROD_IMAGE, noCert))).toThrow(/certificateArn is required/);
    const { alarmEmail: _a, ...noEmail } = PROD;
    expect(() => stackOf(environment('prod', PROD_IMAGE, noEmail))).toThrow(/alarmEmail is required/);
    const { owner: _o, ...noOwner } = PROD;
    expect(() => stackOf(environment('prod', PROD_IMAGE, noOwner))).toThrow(/owner is required/);
    expect(() => stackOf(environment('prod', IMAGE, PROD))).toThrow(/pinned by digest/);
    expect(JSON.stringify(container(prod, 'api'))).toContain(`offbase@${DIGEST}`);
  });

  it('every container of every task definition (service, migrate, bootstrap-roles) runs the digest, never a tag', () => {
    for (const t of [prod, prodDirect]) {
      const all = containers(t);
      expect(all.map((c) => c.Name).sort()).toEqual(expect.arrayContaining(['api', 'migrate-on-boot']));
      expect(Object.keys(t.findResources('AWS::ECS::TaskDefinition')).length).toBeGreaterThanOrEqual(3);
      for (const c of all) {
        const image = JSON.stringify(c.Image);
        expect(image, c.Name).toContain(`/offbase@${DIGEST}`);
        expect(image, c.Name).not.toMatch(/offbase:/);
      }
    }
  });

  it('-c image=<repository> -c imageDigest=sha256:… is the same deployment as image=<repository>@sha256:…', () => {
    const repo = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/offbase';
    expect(imageReference(repo, DIGEST)).toBe(PROD_IMAGE);
    expect(imageReference(PROD_IMAGE)).toBe(PROD_IMAGE);
    expect(imageReference(IMAGE)).toBe(IMAGE);
    // A registry port is not a tag.
    expect(imageReference('registry.example.com:5000/team/offbase', DIGEST)).toBe(`registry.example.com:5000/team/offbase@${DIGEST}`);
    expect(() => imageReference(IMAGE, DIGEST)).toThrow(/without a tag or digest/);
    expect(() => imageReference(PROD_IMAGE, DIGEST)).toThrow(/without a tag or digest/);
    for (const bad of ['sha256:abc', `sha256:${'AB'.repeat(32)}`, 'ab'.repeat(32), `sha512:${'ab'.repeat(64)}`, '']) {
      expect(() => imageReference(repo, bad), bad).toThrow(/imageDigest must be sha256/);
    }
    expect(() => stackOf(environment('prod', imageReference(repo, DIGEST), PROD))).not.toThrow();
  });
});

describe('regressions a mutated stack must fail', () => {
  it('stopTimeout leaves room for SHUTDOWN_TIMEOUT_MS', () => {
    for (const t of all()) {
      const api = apiContainer(t);
      const shutdownMs = Number(env(api).SHUTDOWN_TIMEOUT_MS);
      expect(shutdownMs).toBeGreaterThan(0);
      expect(api.StopTimeout * 1000).toBeGreaterThanOrEqual(shutdownMs + 5000);
    }
    expect(() => stackOf(environment('dev', IMAGE, { service: { shutdownTimeoutMs: 28_000 } }))).toThrow(/SHUTDOWN_TIMEOUT_MS/);
  });

  it('proxy IAM auth stays on in prod', () => {
    expect(only(prod, 'AWS::RDS::DBProxy').Properties).toMatchObject({ DefaultAuthScheme: 'IAM_AUTH', RequireTLS: true });
  });

  it('the 5xx alarm fires at 5% of requests over 5 minutes', () => {
    const a = alarmByMetric(prod, 'HTTPCode_Target_5XX_Count');
    expect(a).toMatchObject({ Threshold: 5, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold' });
    expect(JSON.stringify(a.Metrics)).toContain('100 * (target5xx + elb5xx)');
  });

  it('the free-storage alarm sits below storage autoscaling (10% free)', () => {
    const a = alarmByMetric(prod, '"FreeStorageSpace"');
    expect(a.Threshold).toBeLessThan(100 * 1024 ** 3 * 0.1);
  });

  it('the API container has a health check', () => {
    for (const t of all()) expect(apiContainer(t).HealthCheck).toMatchObject({ Interval: 15, Retries: 3, Timeout: 5 });
  });

  it('PostgreSQL and upgrade logs are exported with retention; every log group has a retention', () => {
    for (const t of all()) {
      expect(only(t, 'AWS::RDS::DBInstance').Properties.EnableCloudwatchLogsExports).toEqual(['postgresql', 'upgrade']);
      // The exported RDS log groups get their retention from the CDK's log-retention resource.
      const retention = Object.values(t.findResources('Custom::LogRetention')) as Resource[];
      expect(retention.map((r) => JSON.stringify(r.Properties.LogGroupName).match(/\/(postgresql|upgrade)"/)?.[1]).sort()).toEqual(['postgresql', 'upgrade']);
      for (const r of retention) expect(Number(r.Properties.RetentionInDays)).toBeGreaterThan(0);
      for (const g of Object.values(t.findResources('AWS::Logs::LogGroup')) as Resource[]) expect(g.Properties.RetentionInDays).toBeGreaterThan(0);
    }
  });

  it('Container Insights is on', () => {
    for (const t of all()) expect(only(t, 'AWS::ECS::Cluster').Properties.ClusterSettings).toEqual([{ Name: 'containerInsights', Value: 'enabled' }]);
  });

  it('Performance Insights and Enhanced Monitoring on RDS', () => {
    for (const t of all()) expect(only(t, 'AWS::RDS::DBInstance').Properties).toMatchObject({ EnablePerformanceInsights: true, MonitoringInterval: expect.any(Number) });
    expect(only(prod, 'AWS::RDS::DBInstance').Properties.MonitoringInterval).toBe(15);
  });
});

describe('network hygiene', () => {
  it('VPC flow logs to a log group with retention; an S3 gateway endpoint', () => {
    for (const t of all()) {
      t.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
      t.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('s3')])]) }) });
    }
  });

  it('tasks may leave only on 443, the SMTP port and 5432 to the database (and proxy); the proxy only to the database', () => {
    const egress = (t: Template, group: string) => {
      const inline = ((t.findResources('AWS::EC2::SecurityGroup') as Record<string, Resource>)[group]!.Properties.SecurityGroupEgress ?? []) as Record<string, unknown>[];
      const standalone = (Object.values(t.findResources('AWS::EC2::SecurityGroupEgress')) as Resource[]).map((r) => r.Properties).filter((p) => ref(p.GroupId) === group);
      return [...inline, ...standalone].map((r) => ({ port: portOf(r.FromPort), to: (r.CidrIp as string) ?? ref(r.DestinationSecurityGroupId) }));
    };
    for (const t of [dev, prod]) {
      const svc = sgId(t, 'offbase tasks (service and migrate)');
      const rules = egress(t, svc).sort((a, b) => a.port - b.port || String(a.to).localeCompare(String(b.to)));
      const expected = [
        { port: 443, to: '0.0.0.0/0' },
        { port: 587, to: '0.0.0.0/0' },
        { port: 5432, to: sgId(t, 'offbase database') },
        ...(t === prod ? [{ port: 5432, to: sgId(t, 'offbase RDS Proxy') }] : []),
      ].sort((a, b) => a.port - b.port || String(a.to).localeCompare(String(b.to)));
      expect(rules).toEqual(expected);
    }
    expect(egress(prod, sgId(prod, 'offbase RDS Proxy'))).toEqual([{ port: 5432, to: sgId(prod, 'offbase database') }]);
  });

  it('the alarm topic refuses plain HTTP; every resource carries the Project, Environment and Owner tags', () => {
    for (const t of all()) {
      t.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
    const tags = only(prod, 'AWS::RDS::DBInstance').Properties.Tags as { Key: string; Value: string }[];
    expect(tags).toEqual(expect.arrayContaining([{ Key: 'Project', Value: 'offbase' }, { Key: 'Environment', Value: 'prod' }, { Key: 'Owner', Value: 'platform-team' }]));
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('every finding is fixed or acknowledged in code with a reason', () => {
    const configs = [
      environment('dev', IMAGE),
      environment('dev', IMAGE, { db: { proxy: true } }),
      environment('dev', IMAGE, { db: { iamAuth: true } }),
      environment('prod', PROD_IMAGE, PROD),
      environment('prod', PROD_IMAGE, { ...PROD, db: { proxy: true } }),
    ];
    for (const config of configs) {
      const report = new AwsSolutionsChecks().validateScope(stackOf(config));
      const findings = report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
      expect(findings, `${config.name} proxy=${config.db.proxy} iam=${config.db.iamAuth}`).toEqual([]);
    }
  });
});
