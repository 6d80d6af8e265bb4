// check-push-receipts: the dispatch cron job hands it each due `push_receipts` job
// ({job_id}, service key): the receipts of that send's Expo tickets are fetched; devices Expo
// reports as not registered lose their push token; receipts not ready yet are asked for again
// later (the job is rescheduled with backoff, up to 5 attempts).
import { HttpError, readJson, serve, uuid } from '../_shared/http.ts';
import { caller, isService } from '../_shared/auth.ts';
import { performJob } from '../_shared/jobs.ts';
import { checkReceipts } from '../_shared/push.ts';

serve(['POST'], async (req) => {
  const who = caller(req);
  const body = await readJson(req);
  if (!isService(who)) throw new HttpError(403, 'forbidden', 'only the scheduler checks push receipts');
  return performJob(uuid(body, 'job_id')!, (job) => {
    if (job.job_type !== 'push_receipts') throw new HttpError(422, 'invalid_job', 'not a push_receipts job');
    return checkReceipts(job);
  });
});
