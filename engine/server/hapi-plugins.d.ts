// @hapi/cookie and @hapi/crumb ship no type declarations; both are hapi plugin objects.
declare module '@hapi/cookie' {
  import type { Plugin } from '@hapi/hapi';
  const cookie: { plugin: Plugin<void> };
  export default cookie;
  module '@hapi/hapi' {
    interface Request {
      cookieAuth: { set(session: object): void; clear(): void };
    }
  }
}
declare module '@hapi/crumb' {
  import type { Plugin } from '@hapi/hapi';
  const crumb: { plugin: Plugin<Record<string, unknown>> };
  export default crumb;
}
