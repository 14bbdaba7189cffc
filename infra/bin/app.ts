import { App } from 'aws-cdk-lib';
import { environment } from '../lib/environments.js';
import { OffbaseStack } from '../lib/offbase-stack.js';

// npx cdk deploy -c env=prod -c image=<ecr-uri>:<tag> [-c certificateArn=...] [-c rdsProxy=true]
const app = new App();
const ctx = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;
const name = ctx('env') ?? 'dev';
const image = ctx('image');
if (!image) throw new Error('pass the container image: -c image=<account>.dkr.ecr.<region>.amazonaws.com/offbase:<tag>');
const flag = (key: string) => (ctx(key) === undefined ? undefined : String(ctx(key)) === 'true');

const config = environment(name, image, {
  certificateArn: ctx('certificateArn'),
  publicUrl: ctx('publicUrl'),
  corsOrigins: ctx('corsOrigins'),
  alarmEmail: ctx('alarmEmail'),
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
