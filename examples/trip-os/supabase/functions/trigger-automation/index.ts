// trigger-automation: perform an automation rule's action. The dispatch cron job calls it with
// the service key for each occurrence private.evaluate_automation_rules created ({job_id});
// a user may run one of their own rules now ({rule_id}, read as the user). WhatsApp actions
// are sent; email and push are not part of trip-os yet (422).
import { HttpError, json, readJson, serve, uuid } from '../_shared/http.ts';
import { caller, isService } from '../_shared/auth.ts';
import { eq, serviceDb, userDb } from '../_shared/db.ts';
import { deliver } from '../_shared/whatsapp.ts';
import { performJob } from '../_shared/jobs.ts';

async function compose(rule: any, payload: any): Promise<string> {
  const db = serviceDb();
  if (rule.action_config?.message) return String(rule.action_config.message);
  const trip = rule.trip_id ? await db.one('trips', { id: eq(rule.trip_id), select: 'title,start_date,end_date' }) : null;
  const name = trip ? `"${trip.title}"` : 'your trip';
  switch (rule.trigger_type) {
    case 'days_before_trip':
      return `${name} starts on ${trip?.start_date ?? 'soon'}: time to pack!`;
    case 'item_starting_soon': {
      const item = payload?.item_id ? await db.one('trip_items', { id: eq(payload.item_id), select: 'title,starts_at' }) : null;
      return item ? `${item.title} starts at ${new Date(item.starts_at).toISOString().slice(11, 16)} UTC` : `Something on ${name} starts soon`;
    }
    case 'daily_digest': {
      const items = rule.trip_id ? await db.select('trip_items', { trip_id: eq(rule.trip_id), select: 'title', order: 'day_number,order_index', limit: '5' }) : [];
      return `Today on ${name}: ${items.map((i: any) => i.title).join(', ') || 'nothing planned yet'}`;
    }
    default:
      return `Update on ${name}`;
  }
}

async function perform(rule: any, payload: any, jobId?: string) {
  if (!rule.is_enabled) throw new HttpError(409, 'rule_disabled', 'the automation rule is disabled');
  if (rule.action !== 'whatsapp_message') {
    throw new HttpError(422, 'unsupported_action', `${rule.action} delivery is not part of trip-os yet`);
  }
  const text = await compose(rule, payload);
  const sent = await deliver({ userId: rule.user_id, text, tripId: rule.trip_id, jobId, template: rule.action_config?.template });
  await serviceDb().update('automation_rules', { id: eq(rule.id) }, { last_triggered_at: new Date().toISOString() });
  return { rule_id: rule.id, message_id: sent.id, wa_message_id: sent.wa_message_id, text };
}

serve(['POST'], async (req) => {
  const who = caller(req);
  const body = await readJson(req);
  if (body.job_id !== undefined) {
    if (!isService(who)) throw new HttpError(403, 'forbidden', 'only the scheduler runs a job');
    return performJob(uuid(body, 'job_id')!, async (job) => {
      const rule = job.rule_id ? await serviceDb().one('automation_rules', { id: eq(job.rule_id) }) : null;
      if (!rule) throw new HttpError(422, 'invalid_job', 'the job names no automation rule');
      return perform(rule, job.payload, job.id);
    });
  }
  const ruleId = uuid(body, 'rule_id')!;
  const db = isService(who) ? serviceDb() : userDb(who.token);
  if (!isService(who) && (who.role !== 'authenticated' || !who.userId)) throw new HttpError(401, 'unauthorized', 'sign in first');
  const rule = await db.one('automation_rules', { id: eq(ruleId) });
  if (!rule) throw new HttpError(404, 'rule_not_found', 'no such automation rule of yours');
  return json(await perform(rule, { occurrence: 'manual' }));
});
