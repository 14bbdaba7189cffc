import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { environment, imageReference } from '../lib/environments.js';
import { OffbaseStack } from '../lib/offbase-stack.js';

// npx cdk deploy -c env=prod -c image=<ecr-repository-uri> -c imageDigest=sha256:<digest> -c certificateArn=... -c alarmEmail=... -c owner=... [-c rdsProxy=true]
// (or -c image=<ecr-repository-uri>@sha256:<digest>; dev also takes a tag, prod only a digest)
const app = new App();
// cdk-nag's AwsSolutions pack runs on every synth; an unacknowledged finding fails it.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const ctx = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;
const name = ctx('env') ?? 'dev';
const repository = ctx('image');
if (!repository) throw new Error('pass the container image: -c image=<account>.dkr.ecr.<region>.amazonaws.com/offbase -c imageDigest=sha256:<digest>');
const image = imageReference(repository, ctx('imageDigest'));
const flag = (key: string) => (ctx(key) === undefined ? undefined : String(ctx(key)) === 'true');

const config = environment(name, image, {
  certificateArn: ctx('certificateArn'),
  publicUrl: ctx('publicUrl'),
  corsOrigins: ctx('corsOrigins'),
  alarmEmail: ctx('alarmEmail'),
  owner: ctx('owner'),
  costCenter: ctx('costCenter'),
  db: {
    ...(flag('rdsProxy') !== undefined ? { proxy: flag('rdsProxy') } : {}),
    ...(flag('iamAuth') !== undefined ? { iamAuth: flag('iamAuth') } : {}),
    ...(ctx('dbInstanceType') ? { instanceType: ctx('dbInstanceType') } : {}),
  },
});

new OffbaseStack(app, `offbase-${config.name}`, {
  config,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: `offbase API (${config.name}): VPC, RDS PostgreSQL, ECS Fargate behind an ALB`,
});
