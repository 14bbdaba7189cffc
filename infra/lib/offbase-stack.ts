import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from './environments.js';

export interface OffbaseStackProps extends StackProps {
  config: EnvironmentConfig;
}

const APP_PORT = 3000;
const DB_PORT = 5432;
const DB_NAME = 'offbase';
const DB_USER = 'offbase';
/** Where the image puts Amazon's RDS CA bundle (see the Dockerfile). */
const RDS_CA_PATH = '/etc/ssl/rds/global-bundle.pem';

const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)[:@](.+)$/;

/** ECR images get pull permissions on the execution role; anything else is a public registry. */
function containerImage(scope: Construct, uri: string): ecs.ContainerImage {
  const m = ECR_IMAGE.exec(uri);
  if (!m) return ecs.ContainerImage.fromRegistry(uri);
  const [, account, region, name, tagOrDigest] = m;
  const repo = ecr.Repository.fromRepositoryArn(scope, 'ImageRepo', `arn:aws:ecr:${region}:${account}:repository/${name}`);
  return ecs.ContainerImage.fromEcrRepository(repo, tagOrDigest);
}

/**
 * offbase on AWS: a VPC over two AZs, RDS PostgreSQL in isolated subnets (optionally behind
 * RDS Proxy), an ECS Fargate service behind an ALB, secrets from Secrets Manager, a one-off
 * migrate task, autoscaling and alarms. See docs/deploy-aws.md.
 */
export class OffbaseStack extends Stack {
  constructor(scope: Construct, id: string, props: OffbaseStackProps) {
    super(scope, id, props);
    const cfg = props.config;

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

    const albSg = new ec2.SecurityGroup(this, 'AlbSg', { vpc, description: 'offbase load balancer', allowAllOutbound: false });
    const serviceSg = new ec2.SecurityGroup(this, 'ServiceSg', { vpc, description: 'offbase tasks (service and migrate)' });
    const dbSg = new ec2.SecurityGroup(this, 'DbSg', { vpc, description: 'offbase database', allowAllOutbound: false });
    // Only the tasks reach the database (the migrate task always connects directly).
    dbSg.addIngressRule(serviceSg, ec2.Port.tcp(DB_PORT), 'offbase tasks');

    // --- database ---
    const parameterGroup = new rds.ParameterGroup(this, 'DbParams', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
      parameters: { 'rds.force_ssl': '1', log_min_duration_statement: '1000' },
    });
    const db = new rds.DatabaseInstance(this, 'Db', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
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
      cloudwatchLogsExports: ['postgresql'],
      autoMinorVersionUpgrade: true,
      copyTagsToSnapshot: true,
    });
    const dbSecret = db.secret!;

    let proxy: rds.DatabaseProxy | undefined;
    if (cfg.db.proxy) {
      const proxySg = new ec2.SecurityGroup(this, 'ProxySg', { vpc, description: 'offbase RDS Proxy' });
      proxySg.addIngressRule(serviceSg, ec2.Port.tcp(DB_PORT), 'offbase service');
      // addProxy also opens the database security group to the proxy's.
      proxy = db.addProxy('Proxy', {
        secrets: [dbSecret],
        vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [proxySg],
        requireTLS: true,
        iamAuth: cfg.db.iamAuth,
      });
    }

    const jwtSecret = new secretsmanager.Secret(this, 'JwtSecret', {
      secretName: `offbase/${cfg.name}/jwt`,
      description: 'offbase JWT_SECRET (HS256 signing key)',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });

    // --- compute ---
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    // Log groups cannot be snapshotted: whatever keeps the database keeps the logs.
    const logsRemoval = cfg.db.removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: cfg.logRetention, removalPolicy: logsRemoval });
    const image = containerImage(this, cfg.image);
    const runtimePlatform = {
      cpuArchitecture: cfg.service.arm64 ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    };

    // Credentials arrive as ECS secrets (resolved by the agent at start), never as plain values.
    const dbSecrets = (): Record<string, ecs.Secret> => ({
      DB_HOST: ecs.Secret.fromSecretsManager(dbSecret, 'host'),
      DB_PORT: ecs.Secret.fromSecretsManager(dbSecret, 'port'),
      DB_NAME: ecs.Secret.fromSecretsManager(dbSecret, 'dbname'),
      DB_USER: ecs.Secret.fromSecretsManager(dbSecret, 'username'),
      ...(cfg.db.iamAuth ? {} : { DB_PASSWORD: ecs.Secret.fromSecretsManager(dbSecret, 'password') }),
      JWT_SECRET: ecs.Secret.fromSecretsManager(jwtSecret),
    });
    const commonEnv: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DB_SSL: 'verify-full',
      DB_SSL_CA: RDS_CA_PATH,
      ...(cfg.db.iamAuth ? { DB_IAM_AUTH: 'true', DB_MAX_LIFETIME_S: '600', AWS_REGION: this.region } : {}),
    };

    // The service: with RDS Proxy it connects through the proxy (no server-side prepared
    // statements), and migrations run on the direct endpoint in a container that must exit 0
    // before the API starts, because their session-level advisory lock needs one real
    // server session. Either way every task migrates before it serves.
    const serviceEnv: Record<string, string> = {
      ...commonEnv,
      PORT: String(APP_PORT),
      TRUST_PROXY: '1',
      DB_POOL_MAX: String(cfg.service.poolMax),
      MIGRATE_ON_BOOT: proxy ? 'false' : 'true',
      ...(proxy ? { DB_PREPARE: 'false' } : {}),
      ...(cfg.publicUrl ? { PUBLIC_URL: cfg.publicUrl } : {}),
      ...(cfg.corsOrigins ? { CORS_ORIGINS: cfg.corsOrigins } : {}),
    };
    const serviceSecrets = dbSecrets();
    if (proxy) {
      // The proxy endpoint is not a secret; it replaces the instance host from the secret.
      delete serviceSecrets.DB_HOST;
      serviceEnv.DB_HOST = proxy.endpoint;
    }

    const taskDef = new ecs.FargateTaskDefinition(this, 'ApiTask', {
      cpu: cfg.service.cpu,
      memoryLimitMiB: cfg.service.memoryMiB,
      runtimePlatform,
    });
    const api = taskDef.addContainer('api', {
      image,
      essential: true,
      portMappings: [{ containerPort: APP_PORT, protocol: ecs.Protocol.TCP }],
      environment: serviceEnv,
      secrets: serviceSecrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'api' }),
      // ECS ignores the image's HEALTHCHECK; the same liveness probe, without the database.
      healthCheck: {
        command: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${APP_PORT}/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      stopTimeout: Duration.seconds(30),
      linuxParameters: new ecs.LinuxParameters(this, 'ApiLinux', { initProcessEnabled: true }),
    });

    if (proxy) {
      const migrateOnBoot = taskDef.addContainer('migrate-on-boot', {
        image,
        essential: false,
        command: ['node', 'dist/cli.js', 'migrate'],
        environment: commonEnv,
        secrets: dbSecrets(),
        logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'migrate-on-boot' }),
      });
      api.addContainerDependencies({ container: migrateOnBoot, condition: ecs.ContainerDependencyCondition.SUCCESS });
    }

    // One-off: `aws ecs run-task --task-definition <MigrateTaskDefinition>` runs only `migrate`.
    const migrateDef = new ecs.FargateTaskDefinition(this, 'MigrateTask', { cpu: 256, memoryLimitMiB: 512, runtimePlatform });
    migrateDef.addContainer('migrate', {
      image,
      essential: true,
      command: ['node', 'dist/cli.js', 'migrate'],
      environment: commonEnv,
      secrets: dbSecrets(),
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'migrate' }),
    });

    if (cfg.db.iamAuth) {
      db.grantConnect(taskDef.taskRole, DB_USER);
      db.grantConnect(migrateDef.taskRole, DB_USER);
      proxy?.grantConnect(taskDef.taskRole, DB_USER);
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
      healthCheckGracePeriod: Duration.seconds(60),
    });

    // --- load balancer: the only way in ---
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
    });
    const targetGroup = new elbv2.ApplicationTargetGroup(this, 'Targets', {
      vpc,
      port: APP_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [service],
      // Short: the app drains in-flight requests on SIGTERM well within this.
      deregistrationDelay: Duration.seconds(15),
      healthCheck: {
        path: '/health/ready',
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

    // --- autoscaling: CPU and requests per task ---
    const scaling = service.autoScaleTaskCount({ minCapacity: cfg.service.minTasks, maxCapacity: cfg.service.maxTasks });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: cfg.service.cpuTargetPercent });
    scaling.scaleOnRequestCount('Requests', { requestsPerTarget: cfg.service.requestsPerTargetPerMinute, targetGroup });

    // --- alarms ---
    const topic = new sns.Topic(this, 'Alarms', { displayName: `offbase ${cfg.name} alarms` });
    if (cfg.alarmEmail) topic.addSubscription(new subs.EmailSubscription(cfg.alarmEmail));
    const action = new cwActions.SnsAction(topic);
    const alarm = (id: string, props: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this, id, props);
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
    alarm('DbCpu', {
      alarmDescription: 'RDS CPU above 80% for 10 minutes',
      metric: db.metricCPUUtilization({ period: Duration.minutes(5) }),
      threshold: 80,
      evaluationPeriods: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarm('DbConnections', {
      alarmDescription: 'RDS connections near max_connections: check tasks × DB_POOL_MAX',
      metric: db.metricDatabaseConnections({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: cfg.db.connectionsAlarmThreshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    alarm('DbFreeStorage', {
      alarmDescription: 'RDS free storage below 10% of the allocated size',
      metric: db.metricFreeStorageSpace({ period: Duration.minutes(5), statistic: 'Minimum' }),
      threshold: cfg.db.allocatedStorageGb * 1024 ** 3 * 0.1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    });

    // --- what operators need to run the migrate task and reach the service ---
    new CfnOutput(this, 'LoadBalancerDns', { value: alb.loadBalancerDnsName });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: service.serviceName });
    new CfnOutput(this, 'MigrateTaskDefinition', { value: migrateDef.taskDefinitionArn });
    new CfnOutput(this, 'TaskSecurityGroup', { value: serviceSg.securityGroupId });
    new CfnOutput(this, 'TaskSubnets', { value: vpc.privateSubnets.map((s) => s.subnetId).join(',') });
    new CfnOutput(this, 'DbEndpoint', { value: db.dbInstanceEndpointAddress });
    if (proxy) new CfnOutput(this, 'ProxyEndpoint', { value: proxy.endpoint });
    new CfnOutput(this, 'AlarmTopic', { value: topic.topicArn });
  }
}
