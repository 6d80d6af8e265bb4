// trigger-automation: perform an automation rule's action. The dispatch cron job calls it with
// the service key for each occurrence private.evaluate_automation_rules created ({job_id});
// a user may run one of their own rules now ({rule_id}, read as the user). The action is sent
// by WhatsApp (templates by action_config.template), email (action_config.subject) or push
// (to every device in push_tokens), through the providers _shared/notify.ts names.
import { HttpError, json, readJson, serve, uuid } from '../_shared/http.ts';
import { caller, isService } from '../_shared/auth.ts';
import { eq, serviceDb, userDb } from '../_shared/db.ts';
import { deliver } from '../_shared/whatsapp.ts';
import { performJob } from '../_shared/jobs.ts';
import { sendEmail, sendPush } from '../_shared/notify.ts';

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
    case 'vote_closed': {
      const itemId = payload?.item_id ?? rule.trigger_config?.trip_item_id;
      const item = itemId ? await db.one('trip_items', { id: eq(itemId), select: 'id,title' }) : null;
      if (!item) return `A vote on ${name} closed`;
      const votes = await db.select('votes', { trip_item_id: eq(item.id), select: 'value' });
      const up = votes.filter((v: any) => v.value === 1).length;
      const down = votes.length - up;
      return `Voting closed on ${item.title} (${name}): ${up} for, ${down} against, ${up > down ? 'it stays on the plan' : 'it is off the plan'}`;
    }
    default:
      return `Update on ${name}`;
  }
}

async function perform(rule: any, payload: any, jobId?: string) {
  if (!rule.is_enabled) throw new HttpError(409, 'rule_disabled', 'the automation rule is disabled');
  const text = await compose(rule, payload);
  let result: Record<string, unknown>;
  switch (rule.action) {
    case 'whatsapp_message': {
      const sent = await deliver({ userId: rule.user_id, text, tripId: rule.trip_id, jobId, template: rule.action_config?.template });
      result = { message_id: sent.id, wa_message_id: sent.wa_message_id };
      break;
    }
    case 'email':
      result = await sendEmail({ userId: rule.user_id, subject: String(rule.action_config?.subject ?? `trip-os: ${rule.name}`), text, jobId });
      break;
    case 'push':
      result = await sendPush({ userId: rule.user_id, title: String(rule.action_config?.title ?? rule.name), body: text, jobId,
        data: { rule_id: rule.id, trip_id: rule.trip_id, item_id: payload?.item_id ?? null } });
      break;
    default:
      throw new HttpError(422, 'unsupported_action', `unknown action ${rule.action}`);
  }
  await serviceDb().update('automation_rules', { id: eq(rule.id) }, { last_triggered_at: new Date().toISOString() });
  return { rule_id: rule.id, action: rule.action, ...result, text };
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
