// npm run dev: the server (in tsx watch mode) with pretty-printed logs. Set here rather than as
// `LOG_PRETTY=true tsx …` in package.json, which Windows shells cannot run; LOG_PRETTY=false in
// the environment keeps JSON lines. The server is imported only after: it reads its
// configuration as it loads.
process.env.LOG_PRETTY ??= 'true';
await import('../src/server.js');
