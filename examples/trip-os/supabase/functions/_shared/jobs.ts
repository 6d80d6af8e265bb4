// Scheduled jobs handed over by the dispatch cron job (private.dispatch_due_jobs marks a job
// running before it calls the function). A job that is not running (already done, failed or
// cancelled) is left alone, so a call delivered twice changes nothing.
import { HttpError, json } from './http.ts';
import { eq, serviceDb } from './db.ts';

export async function performJob(jobId: string, work: (job: any) => Promise<unknown>): Promise<Response> {
  const db = serviceDb();
  const job = await db.one('scheduled_jobs', { id: eq(jobId) });
  if (!job) throw new HttpError(404, 'job_not_found', 'no such scheduled job');
  if (job.status !== 'running') return json({ job_id: job.id, status: job.status, skipped: true });
  try {
    const result = await work(job);
    await db.update('scheduled_jobs', { id: eq(job.id) }, { status: 'done', last_error: null });
    return json({ job_id: job.id, status: 'done', result });
  } catch (e) {
    const err = e instanceof HttpError ? e : new HttpError(500, 'internal_error', String(e));
    // A refusal (4xx) will not get better; a provider failure is tried again with backoff.
    const retry = err.status >= 500 && job.attempts < 5;
    await db.update('scheduled_jobs', { id: eq(job.id) }, {
      status: retry ? 'scheduled' : 'failed',
      last_error: `${err.code}: ${err.message}`,
      ...(retry ? { run_at: new Date(Date.now() + 30_000 * 2 ** job.attempts).toISOString() } : {}),
    });
    throw err;
  }
}
