// Runs the flows of usage.ts against a live exchange: AISX_URL=http://127.0.0.1:6100 AISX_ADMIN_SECRET=… node dist/run.js
import { main } from './usage';

main(process.env.AISX_URL ?? 'http://127.0.0.1:6100', process.env.AISX_ADMIN_SECRET ?? '')
  .then((summary) => console.log(JSON.stringify(summary)))
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
