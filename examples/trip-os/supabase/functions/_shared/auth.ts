// Who is calling. The functions service verified the JWT's signature before the call reached
// us (verify_jwt, the default for every function but the webhooks), so its claims are read here.
import { type Body, HttpError, uuid } from './http.ts';

export interface Caller {
  token: string;
  role: string;
  userId?: string;
  email?: string;
}

export function caller(req: Request): Caller {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.get('authorization') ?? '');
  if (!m) throw new HttpError(401, 'unauthorized', 'an Authorization: Bearer token is required');
  const token = m[1].trim();
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part + '='.repeat((4 - part.length % 4) % 4)));
    return { token, role: String(claims.role ?? ''), userId: claims.sub, email: claims.email };
  } catch {
    throw new HttpError(401, 'unauthorized', 'the bearer token is not a JWT');
  }
}

/** A signed-in user (not anon, not the service role). */
export function requireUser(req: Request): Caller & { userId: string } {
  const c = caller(req);
  if (c.role !== 'authenticated' || !c.userId) {
    throw new HttpError(401, 'unauthorized', 'sign in first: this function acts as a signed-in user');
  }
  return c as Caller & { userId: string };
}

export function isService(c: Caller): boolean {
  return c.role === 'service_role';
}

export function requireService(req: Request): Caller {
  const c = caller(req);
  if (!isService(c)) throw new HttpError(403, 'forbidden', 'only the server (service role) may do this');
  return c;
}

/** Whose behalf a call acts on: the signed-in user, or the user_id in `body` when the server calls. */
export function actingFor(c: Caller, body: Body): string {
  if (isService(c)) return uuid(body, 'user_id')!;
  if (c.role !== 'authenticated' || !c.userId) throw new HttpError(401, 'unauthorized', 'sign in first');
  if (body.user_id !== undefined && body.user_id !== c.userId) {
    throw new HttpError(403, 'forbidden', 'you can only act for yourself');
  }
  return c.userId;
}
