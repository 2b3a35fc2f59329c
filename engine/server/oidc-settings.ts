// Teacher sign-in settings (OpenID Connect): from `serve` options or the environment. The client secret
// comes from the environment only: a command-line argument is visible to every user in `ps`.

export interface OidcSettings {
  /** The provider's issuer URL (its discovery document is at <issuer>/.well-known/openid-configuration). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** This server's address as browsers reach it; the redirect URI is <publicUrl>/auth/callback. */
  publicUrl: string;
  /** Email domains allowed to sign in (lower case); ['*'] allows any account the issuer vouches for. */
  allowedDomains: string[];
  /** How long a sign-in lasts (default 8 hours). */
  sessionTtlMs?: number;
}

const loopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Plain http is allowed only to this machine (a test provider, or a server behind a local proxy). */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && loopback(url.hostname);
}

/**
 * The settings from options (CLI flags) and env, or undefined when sign-in is not configured, or an error
 * message naming what is missing or wrong.
 */
export function oidcSettingsFrom(options: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): OidcSettings | undefined | { error: string } {
  const pick = (flag: string, name: string) => (typeof options[flag] === 'string' ? (options[flag] as string) : env[name]);
  const issuer = pick('oidc-issuer', 'LOFLOW_OIDC_ISSUER');
  if (!issuer) return undefined;
  const clientId = pick('oidc-client-id', 'LOFLOW_OIDC_CLIENT_ID');
  const clientSecret = env.LOFLOW_OIDC_CLIENT_SECRET;
  const publicUrl = pick('public-url', 'LOFLOW_PUBLIC_URL');
  const domains = pick('oidc-domains', 'LOFLOW_OIDC_DOMAINS');
  const hours = Number(pick('session-hours', 'LOFLOW_SESSION_HOURS') ?? 8);
  const missing = [
    !clientId && '--oidc-client-id (or LOFLOW_OIDC_CLIENT_ID)',
    !clientSecret && 'LOFLOW_OIDC_CLIENT_SECRET',
    !publicUrl && '--public-url (or LOFLOW_PUBLIC_URL)',
    !domains && "--oidc-domains (or LOFLOW_OIDC_DOMAINS: the school's email domains, comma-separated, or * for any)",
  ].filter(Boolean);
  if (missing.length) return { error: `teacher sign-in needs ${missing.join(', ')}` };
  for (const [what, u] of [['--oidc-issuer', issuer], ['--public-url', publicUrl!]] as const) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return { error: `${what} '${u}' is not a URL` };
    }
    if (url.protocol !== 'https:' && !isLoopbackHttp(url)) return { error: `${what} must be https:// (plain http only for localhost), not '${u}'` };
  }
  if (!(hours > 0 && hours <= 24 * 30)) return { error: `--session-hours must be a number of hours up to 720` };
  return {
    issuer,
    clientId: clientId!,
    clientSecret: clientSecret!,
    publicUrl: publicUrl!.replace(/\/+$/, ''),
    allowedDomains: domains!.split(',').map((d) => d.trim().toLowerCase()).filter(Boolean),
    sessionTtlMs: hours * 3600_000,
  };
}

/** Whether an email's domain is allowed (exact domain; a subdomain must be listed itself). */
export function domainAllowed(allowed: readonly string[], email: string | undefined): boolean {
  if (allowed.includes('*')) return true;
  const at = email?.lastIndexOf('@') ?? -1;
  return at > 0 && allowed.includes(email!.slice(at + 1).toLowerCase());
}
