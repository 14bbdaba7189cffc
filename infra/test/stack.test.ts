import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { environment, type EnvironmentConfig } from '../lib/environments.js';
import { OffbaseStack } from '../lib/offbase-stack.js';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/offbase:1.0.0';
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
const SECRET_NAMES = ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_PASSWORD', 'JWT_SECRET'];

function synth(config: EnvironmentConfig): Template {
  // Template validation findings fail the synth instead of printing warnings.
  const app = new App({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });
  const stack = new OffbaseStack(app, `offbase-${config.name}`, { config, env: { account: '123456789012', region: 'eu-west-1' } });
  return Template.fromStack(stack);
}

type Resource = { Type: string; Properties: Record<string, unknown> };
type Container = {
  Name: string;
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
let iam: Template;
beforeAll(() => {
  dev = synth(environment('dev', IMAGE));
  prod = synth(environment('prod', IMAGE, { certificateArn: CERT, db: { proxy: true }, alarmEmail: 'ops@example.com' }));
  iam = synth(environment('dev', IMAGE, { db: { iamAuth: true } }));
});

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
    expect(JSON.stringify(db.MasterUserPassword)).toContain('resolve:secretsmanager');
    dev.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'offbase/dev/db',
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', SecretStringTemplate: '{"username":"offbase"}' }),
    });
    dev.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'offbase/dev/jwt', GenerateSecretString: Match.objectLike({ PasswordLength: 64 }) });
    dev.resourceCountIs('AWS::SecretsManager::SecretTargetAttachment', 1);
  });

  it('RDS Proxy only when asked for, requiring TLS', () => {
    dev.resourceCountIs('AWS::RDS::DBProxy', 0);
    prod.hasResourceProperties('AWS::RDS::DBProxy', { EngineFamily: 'POSTGRESQL', RequireTLS: true });
  });
});

describe('security groups', () => {
  it('nothing reaches the database from 0.0.0.0/0; only the tasks (and the proxy) reach 5432', () => {
    for (const [t, allowed] of [
      [dev, ['offbase tasks (service and migrate)']],
      [prod, ['offbase tasks (service and migrate)', 'offbase RDS Proxy']],
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

  it('secrets come from Secrets Manager as ECS secrets; no secret in the plain environment', () => {
    for (const t of [dev, prod, iam]) {
      for (const c of containers(t)) {
        const plain = env(c);
        for (const name of ['DB_PASSWORD', 'JWT_SECRET', 'DATABASE_URL', 'DATABASE_MIGRATION_URL', 'METRICS_TOKEN']) expect(plain).not.toHaveProperty(name);
        expect(JSON.stringify(c.Environment ?? [])).not.toMatch(/secretsmanager|password/i);
        for (const s of c.Secrets ?? []) expect(JSON.stringify(s.ValueFrom)).toMatch(/Secret/);
      }
    }
    expect(secretNames(container(dev, 'api'))).toEqual([...SECRET_NAMES].sort());
    expect(secretNames(container(dev, 'migrate'))).toEqual([...SECRET_NAMES].sort());
  });

  it('production settings: TLS verified against the RDS CA bundle, migrate on boot without a proxy', () => {
    const e = env(container(dev, 'api'));
    expect(e).toMatchObject({ NODE_ENV: 'production', DB_SSL: 'verify-full', DB_SSL_CA: '/etc/ssl/rds/global-bundle.pem', MIGRATE_ON_BOOT: 'true', TRUST_PROXY: '1', DB_POOL_MAX: '10' });
    expect(e).not.toHaveProperty('DB_PREPARE');
    expect(JSON.stringify(e.PUBLIC_URL)).toMatch(/http:\/\/.*Alb.*DNSName/);
    expect(container(dev, 'api').Command).toBeUndefined();
    expect(containers(dev).map((c) => c.Name).sort()).toEqual(['api', 'migrate']);
  });

  it('with RDS Proxy: the service goes through the proxy with DB_PREPARE=false; migrations use the direct endpoint', () => {
    const api = container(prod, 'api');
    const e = env(api);
    expect(e).toMatchObject({ DB_PREPARE: 'false', MIGRATE_ON_BOOT: 'false' });
    expect(JSON.stringify(e.DB_HOST)).toContain('Proxy');
    expect(secretNames(api)).toEqual(SECRET_NAMES.filter((n) => n !== 'DB_HOST').sort());
    // Every task still migrates before serving: a container on the direct endpoint (DB_HOST
    // from the secret) that must exit 0 before the API container starts.
    const apiDef = (Object.values(prod.findResources('AWS::ECS::TaskDefinition')) as Resource[]).find((r) =>
      (r.Properties.ContainerDefinitions as Container[]).some((c) => c.Name === 'api'),
    )!;
    const onBoot = (apiDef.Properties.ContainerDefinitions as (Container & { Essential: boolean })[]).find((c) => c.Name === 'migrate-on-boot')!;
    expect(onBoot).toMatchObject({ Essential: false, Command: ['node', 'dist/cli.js', 'migrate'] });
    expect(secretNames(onBoot)).toContain('DB_HOST');
    expect(env(onBoot)).not.toHaveProperty('DB_PREPARE');
    expect(api).toMatchObject({ DependsOn: [{ ContainerName: 'migrate-on-boot', Condition: 'SUCCESS' }] });
    const migrate = container(prod, 'migrate');
    expect(secretNames(migrate)).toContain('DB_HOST');
  });

  it('a separate one-off task definition runs only `migrate`', () => {
    expect(container(dev, 'migrate').Command).toEqual(['node', 'dist/cli.js', 'migrate']);
    dev.resourceCountIs('AWS::ECS::TaskDefinition', 2);
    dev.resourceCountIs('AWS::ECS::Service', 1);
  });

  it('IAM database auth: no password injected, short connection lifetime, rds-db:connect granted', () => {
    const api = container(iam, 'api');
    expect(secretNames(api)).not.toContain('DB_PASSWORD');
    expect(env(api)).toMatchObject({ DB_IAM_AUTH: 'true', DB_MAX_LIFETIME_S: '600' });
    expect(only(iam, 'AWS::RDS::DBInstance').Properties.EnableIAMDatabaseAuthentication).toBe(true);
    iam.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'rds-db:connect', Effect: 'Allow' })]) },
    });
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
  it('health checks /health/ready with a short deregistration delay', () => {
    for (const t of [dev, prod]) {
      t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckPath: '/health/ready',
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

  it('alarms on 5xx rate, target latency, RDS CPU, connections and free storage, all to the alarm topic', () => {
    const alarms = Object.values(prod.findResources('AWS::CloudWatch::Alarm')) as Resource[];
    const text = alarms.map((a) => JSON.stringify(a.Properties));
    const has = (...parts: string[]) => expect(text.filter((t) => parts.every((p) => t.includes(p))), parts.join(' ')).toHaveLength(1);
    has('HTTPCode_Target_5XX_Count', 'HTTPCode_ELB_5XX_Count', 'RequestCount');
    has('"MetricName":"TargetResponseTime"', '"ExtendedStatistic":"p95"');
    has('"Namespace":"AWS/RDS"', '"MetricName":"CPUUtilization"');
    has('"MetricName":"DatabaseConnections"');
    has('"MetricName":"FreeStorageSpace"');
    for (const a of alarms) expect(JSON.stringify(a.Properties.AlarmActions)).toContain('Alarms');
    prod.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});
