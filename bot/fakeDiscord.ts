/**
 * Test support: a local stand-in for Discord, enough for the real discord.js client. One HTTP server
 * answers the REST API under `/api/v10` (gateway info, interaction callbacks, webhooks, channel
 * messages with multipart files, command registration) and speaks the gateway v10 JSON protocol on
 * WebSocket upgrades (HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats). Tests inject interactions
 * as INTERACTION_CREATE dispatches and read back every request and the messages as the channel has them.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

export interface FakeUser {
  id: string;
  username: string;
  roles: string[];
}

export interface FakeDiscordOptions {
  applicationId: string;
  guildId: string;
  channelIds: string[];
  roles: { id: string; name: string }[];
  /** When set, REST calls that need the bot token and IDENTIFY must carry this one. */
  token?: string;
  botUserId?: string;
}

export interface RecordedFile {
  field: string;
  name: string;
  contentType: string;
  data: Buffer;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  /** Path after `/api/v10`, e.g. `/channels/123/messages`. */
  path: string;
  query: Record<string, string>;
  /** `bot` when the request carried the expected bot token. */
  auth: "bot" | "none" | "wrong";
  body: unknown;
  files: RecordedFile[];
  /** performance.now() when the request arrived. */
  at: number;
}

export interface FakeMessage {
  id: string;
  channelId: string;
  content: string;
  embeds: Record<string, unknown>[];
  components: Record<string, unknown>[];
  attachments: { id: string; filename: string; size: number; content_type: string }[];
  flags: number;
  /** Posted through the bot token (`channel`) or an interaction token (`interaction`). */
  via: "channel" | "interaction";
  interactionId?: string;
  edits: number;
  /** Every version the message had, first one included. */
  history: { content: string; embeds: Record<string, unknown>[]; components: Record<string, unknown>[] }[];
  files: RecordedFile[];
}

export interface SentInteraction {
  id: string;
  token: string;
  /** performance.now() when the dispatch went out. */
  sentAt: number;
}

type OptionValue = string | number | boolean;

export interface FakeDiscord {
  readonly restApi: string;
  readonly gatewayUrl: string;
  readonly requests: readonly RecordedRequest[];
  readonly commands: readonly Record<string, unknown>[];
  messages(channelId?: string): FakeMessage[];
  message(id: string): FakeMessage | undefined;
  /** Identified gateway sessions. */
  sessions(): number;
  waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs?: number): Promise<T>;
  /** The interaction callback (ack) for an interaction, once it arrived. */
  callbackOf(interactionId: string): RecordedRequest | undefined;
  command(input: {
    user: FakeUser;
    name: string;
    options?: Record<string, OptionValue | undefined>;
    subcommand?: string;
    channelId?: string;
  }): SentInteraction;
  click(input: { user: FakeUser; customId: string; messageId: string; channelId?: string }): SentInteraction;
  autocomplete(input: {
    user: FakeUser;
    name: string;
    options: Record<string, OptionValue | undefined>;
    focused: string;
    subcommand?: string;
    channelId?: string;
  }): SentInteraction;
  close(): Promise<void>;
}

const DISCORD_EPOCH = 1420070400000n;
const EPHEMERAL = 64;

interface InteractionState {
  id: string;
  type: number;
  channelId: string;
  /** The message a button sat on. */
  componentMessageId?: string;
  /** The message the interaction's first answer became. */
  originalId?: string;
  ephemeral: boolean;
}

export async function startFakeDiscord(o: FakeDiscordOptions): Promise<FakeDiscord> {
  let counter = 0n;
  const snowflake = () => String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) + (counter++ % 4096n));
  const botUser = {
    id: o.botUserId ?? snowflake(),
    username: "pve-evacuate",
    discriminator: "0000",
    global_name: null,
    avatar: null,
    bot: true,
  };
  const requests: RecordedRequest[] = [];
  const messages = new Map<string, FakeMessage>();
  const interactions = new Map<string, InteractionState>();
  const byToken = new Map<string, InteractionState>();
  const registered: Record<string, unknown>[] = [];
  const commandIds = new Map<string, string>();
  const sockets = new Set<WebSocket>();
  const identified = new Map<WebSocket, { seq: number }>();

  const channel = (id: string) => ({
    id,
    type: 0,
    guild_id: o.guildId,
    name: `channel-${id.slice(-4)}`,
    position: 0,
    permission_overwrites: [],
    nsfw: false,
    parent_id: null,
    topic: null,
    last_message_id: null,
    rate_limit_per_user: 0,
  });

  function messageJson(m: FakeMessage) {
    return {
      id: m.id,
      type: 0,
      channel_id: m.channelId,
      guild_id: o.guildId,
      author: botUser,
      content: m.content,
      timestamp: new Date().toISOString(),
      edited_timestamp: m.edits > 0 ? new Date().toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: m.attachments.map((a) => ({
        ...a,
        url: `https://cdn.invalid/${a.filename}`,
        proxy_url: "",
      })),
      embeds: m.embeds,
      components: m.components,
      pinned: false,
      flags: m.flags,
      ...(m.via === "interaction" ? { webhook_id: o.applicationId, application_id: o.applicationId } : {}),
    };
  }

  function payloadOf(body: unknown): Record<string, unknown> {
    return typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  }

  function createMessage(
    channelId: string,
    body: unknown,
    files: RecordedFile[],
    via: FakeMessage["via"],
    interactionId?: string,
  ): FakeMessage {
    const b = payloadOf(body);
    const m: FakeMessage = {
      id: snowflake(),
      channelId,
      content: typeof b.content === "string" ? b.content : "",
      embeds: Array.isArray(b.embeds) ? (b.embeds as Record<string, unknown>[]) : [],
      components: Array.isArray(b.components) ? (b.components as Record<string, unknown>[]) : [],
      attachments: files.map((f) => ({
        id: snowflake(),
        filename: f.name,
        size: f.data.byteLength,
        content_type: f.contentType,
      })),
      flags: typeof b.flags === "number" ? b.flags : 0,
      via,
      edits: 0,
      history: [],
      files,
      ...(interactionId ? { interactionId } : {}),
    };
    m.history.push({ content: m.content, embeds: m.embeds, components: m.components });
    messages.set(m.id, m);
    return m;
  }

  function editMessage(m: FakeMessage, body: unknown, files: RecordedFile[]) {
    const b = payloadOf(body);
    if (typeof b.content === "string") m.content = b.content;
    if (Array.isArray(b.embeds)) m.embeds = b.embeds as Record<string, unknown>[];
    if (Array.isArray(b.components)) m.components = b.components as Record<string, unknown>[];
    if (files.length > 0) {
      m.files = files;
      m.attachments = files.map((f) => ({
        id: snowflake(),
        filename: f.name,
        size: f.data.byteLength,
        content_type: f.contentType,
      }));
    }
    m.edits++;
    m.history.push({ content: m.content, embeds: m.embeds, components: m.components });
  }

  async function readBody(req: IncomingMessage): Promise<{ body: unknown; files: RecordedFile[] }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const type = req.headers["content-type"] ?? "";
    if (raw.length === 0) return { body: undefined, files: [] };
    if (type.startsWith("multipart/form-data")) {
      const form = await new Response(raw, { headers: { "content-type": type } }).formData();
      let body: unknown;
      const files: RecordedFile[] = [];
      for (const [field, value] of form.entries()) {
        if (typeof value === "string") {
          if (field === "payload_json") body = JSON.parse(value);
        } else {
          files.push({
            field,
            name: value.name,
            contentType: value.type,
            data: Buffer.from(await value.arrayBuffer()),
          });
        }
      }
      return { body, files };
    }
    return { body: JSON.parse(raw.toString("utf8")), files: [] };
  }

  function send(res: ServerResponse, status: number, json?: unknown) {
    if (json === undefined) {
      res.writeHead(status).end();
      return;
    }
    const text = JSON.stringify(json);
    res
      .writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
      .end(text);
  }

  const notFound = (res: ServerResponse) => send(res, 404, { message: "404: Not Found", code: 0 });

  async function onRequest(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://fake");
    const m = /^\/api\/v10(\/.*)$/.exec(url.pathname);
    if (!m) {
      notFound(res);
      return;
    }
    const path = decodeURIComponent(m[1] as string);
    const { body, files } = await readBody(req);
    const header = req.headers.authorization;
    const auth: RecordedRequest["auth"] =
      header === undefined ? "none" : o.token === undefined || header === `Bot ${o.token}` ? "bot" : "wrong";
    const recorded: RecordedRequest = {
      seq: requests.length,
      method: req.method ?? "GET",
      path,
      query: Object.fromEntries(url.searchParams),
      auth,
      body,
      files,
      at: performance.now(),
    };
    requests.push(recorded);
    const method = recorded.method;
    const needsBot = !path.startsWith("/interactions/") && !path.startsWith("/webhooks/");
    if (needsBot && auth !== "bot") {
      send(res, 401, { message: "401: Unauthorized", code: 0 });
      return;
    }

    if (method === "GET" && path === "/gateway/bot") {
      send(res, 200, {
        url: gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 1000, reset_after: 14_400_000, max_concurrency: 1 },
      });
      return;
    }
    const callback = method === "POST" ? /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path) : null;
    if (callback) {
      const r = callback;
      const state = interactions.get(r[1] as string);
      if (!state || byToken.get(r[2] as string) !== state) {
        send(res, 404, { message: "Unknown interaction", code: 10062 });
        return;
      }
      const cb = payloadOf(body);
      const data = payloadOf(cb.data);
      const flags = typeof data.flags === "number" ? data.flags : 0;
      if (cb.type === 4) {
        state.ephemeral = (flags & EPHEMERAL) !== 0;
        state.originalId = createMessage(state.channelId, data, files, "interaction", state.id).id;
      } else if (cb.type === 5) {
        state.ephemeral = (flags & EPHEMERAL) !== 0;
      } else if (cb.type === 7 && state.componentMessageId) {
        const target = messages.get(state.componentMessageId);
        if (target) editMessage(target, data, files);
      }
      send(res, 204);
      return;
    }
    const webhook = /^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/(@original|\d+))?$/.exec(path);
    if (webhook) {
      const r = webhook;
      const state = byToken.get(r[2] as string);
      if (!state || r[1] !== o.applicationId) {
        send(res, 404, { message: "Unknown Webhook", code: 10015 });
        return;
      }
      const which = r[3];
      if (method === "POST" && which === undefined) {
        const created = createMessage(state.channelId, body, files, "interaction", state.id);
        send(res, 200, messageJson(created));
        return;
      }
      const targetId =
        which === "@original"
          ? (state.componentMessageId ?? state.originalId)
          : (which as string | undefined);
      if (method === "PATCH" && which === "@original" && targetId === undefined) {
        // The first edit of a deferred reply is the reply.
        const created = createMessage(
          state.channelId,
          { ...payloadOf(body), flags: state.ephemeral ? EPHEMERAL : 0 },
          files,
          "interaction",
          state.id,
        );
        state.originalId = created.id;
        send(res, 200, messageJson(created));
        return;
      }
      const target = targetId ? messages.get(targetId) : undefined;
      if (!target) {
        send(res, 404, { message: "Unknown Message", code: 10008 });
        return;
      }
      if (method === "PATCH") editMessage(target, body, files);
      if (method === "DELETE") {
        messages.delete(target.id);
        send(res, 204);
        return;
      }
      send(res, 200, messageJson(target));
      return;
    }
    const channelMessage = /^\/channels\/(\d+)\/messages(?:\/(\d+))?$/.exec(path);
    if (channelMessage) {
      const r = channelMessage;
      const channelId = r[1] as string;
      if (!o.channelIds.includes(channelId)) {
        send(res, 404, { message: "Unknown Channel", code: 10003 });
        return;
      }
      if (method === "POST" && r[2] === undefined) {
        send(res, 200, messageJson(createMessage(channelId, body, files, "channel")));
        return;
      }
      const target = r[2] ? messages.get(r[2]) : undefined;
      if (!target || target.channelId !== channelId) {
        send(res, 404, { message: "Unknown Message", code: 10008 });
        return;
      }
      if (method === "PATCH") editMessage(target, body, files);
      send(res, 200, messageJson(target));
      return;
    }
    const channelGet = method === "GET" ? /^\/channels\/(\d+)$/.exec(path) : null;
    if (channelGet) {
      const r = channelGet;
      if (o.channelIds.includes(r[1] as string)) send(res, 200, channel(r[1] as string));
      else send(res, 404, { message: "Unknown Channel", code: 10003 });
      return;
    }
    const commandsPath = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path);
    if (commandsPath) {
      const r = commandsPath;
      if (method === "PUT" && Array.isArray(body)) {
        registered.length = 0;
        for (const c of body as Record<string, unknown>[]) {
          const name = String(c.name);
          const id = commandIds.get(name) ?? snowflake();
          commandIds.set(name, id);
          registered.push({
            ...c,
            id,
            application_id: o.applicationId,
            version: snowflake(),
            ...(r[2] ? { guild_id: r[2] } : {}),
          });
        }
      }
      send(res, 200, registered);
      return;
    }
    notFound(res);
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { message: String(e), code: 0 });
    });
  });
  const wss = new WebSocketServer({ server });

  function sendOp(ws: WebSocket, payload: { op: number; d: unknown; s?: number | null; t?: string | null }) {
    ws.send(JSON.stringify({ s: null, t: null, ...payload }));
  }

  function dispatchTo(ws: WebSocket, t: string, d: unknown) {
    const session = identified.get(ws);
    if (!session) return;
    session.seq++;
    sendOp(ws, { op: 0, t, s: session.seq, d });
  }

  function guildCreate() {
    return {
      id: o.guildId,
      name: "Lab ops",
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: "100000000000000001",
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [
        {
          id: o.guildId,
          name: "@everyone",
          permissions: "0",
          position: 0,
          color: 0,
          hoist: false,
          managed: false,
          mentionable: false,
          flags: 0,
        },
        ...o.roles.map((role, i) => ({
          id: role.id,
          name: role.name,
          permissions: "0",
          position: i + 1,
          color: 0,
          hoist: false,
          managed: false,
          mentionable: true,
          flags: 0,
        })),
      ],
      emojis: [],
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      preferred_locale: "en-US",
      public_updates_channel_id: null,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      stickers: [],
      joined_at: new Date().toISOString(),
      large: false,
      unavailable: false,
      member_count: 1,
      members: [],
      channels: o.channelIds.map(channel),
      threads: [],
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  wss.on("connection", (ws) => {
    sockets.add(ws);
    ws.on("close", () => {
      sockets.delete(ws);
      identified.delete(ws);
    });
    ws.on("message", (raw) => {
      let msg: { op?: number; d?: unknown };
      try {
        msg = JSON.parse(String(raw));
      } catch {
        ws.close(4002, "Decode error");
        return;
      }
      if (msg.op === 1) sendOp(ws, { op: 11, d: null });
      else if (msg.op === 2) {
        const token = payloadOf(msg.d).token;
        if (o.token !== undefined && token !== o.token) {
          ws.close(4004, "Authentication failed");
          return;
        }
        identified.set(ws, { seq: 0 });
        dispatchTo(ws, "READY", {
          v: 10,
          user: botUser,
          guilds: [{ id: o.guildId, unavailable: true }],
          session_id: randomBytes(16).toString("hex"),
          resume_gateway_url: gatewayUrl,
          shard: [0, 1],
          application: { id: o.applicationId, flags: 0 },
          user_settings: {},
          relationships: [],
          private_channels: [],
          presences: [],
          guild_join_requests: [],
          geo_ordered_rtc_regions: [],
        });
        dispatchTo(ws, "GUILD_CREATE", guildCreate());
      } else if (msg.op === 6) {
        // No resumable sessions here: the client identifies again.
        sendOp(ws, { op: 9, d: false });
      }
    });
    sendOp(ws, { op: 10, d: { heartbeat_interval: 41_250 } });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const gatewayUrl = `ws://127.0.0.1:${port}`;

  function memberOf(user: FakeUser) {
    return {
      user: {
        id: user.id,
        username: user.username,
        discriminator: "0",
        global_name: user.username,
        avatar: null,
      },
      roles: user.roles,
      permissions: "2248473465835073",
      joined_at: new Date(0).toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
      nick: null,
      avatar: null,
      pending: false,
      premium_since: null,
    };
  }

  function optionsJson(
    options: Record<string, OptionValue | undefined>,
    focused?: string,
  ): Record<string, unknown>[] {
    return Object.entries(options)
      .filter((e): e is [string, OptionValue] => e[1] !== undefined)
      .map(([name, value]) => ({
        name,
        type: typeof value === "boolean" ? 5 : typeof value === "number" ? 4 : 3,
        value,
        ...(focused === name ? { focused: true } : {}),
      }));
  }

  function inject(
    type: number,
    user: FakeUser,
    channelId: string,
    data: Record<string, unknown>,
    extra: Record<string, unknown> = {},
    componentMessageId?: string,
  ): SentInteraction {
    if (identified.size === 0) throw new Error("no bot is connected to the fake gateway");
    const id = snowflake();
    const token = `itk-${randomBytes(24).toString("hex")}`;
    const state: InteractionState = { id, type, channelId, ephemeral: false };
    if (componentMessageId) state.componentMessageId = componentMessageId;
    interactions.set(id, state);
    byToken.set(token, state);
    const payload = {
      id,
      application_id: o.applicationId,
      type,
      token,
      version: 1,
      guild_id: o.guildId,
      channel_id: channelId,
      channel: channel(channelId),
      member: memberOf(user),
      app_permissions: "2248473465835073",
      locale: "en-US",
      guild_locale: "en-US",
      entitlements: [],
      authorizing_integration_owners: { "0": o.guildId },
      context: 0,
      data,
      ...extra,
    };
    const sentAt = performance.now();
    for (const ws of identified.keys()) dispatchTo(ws, "INTERACTION_CREATE", payload);
    return { id, token, sentAt };
  }

  const commandData = (
    name: string,
    options: Record<string, OptionValue | undefined>,
    subcommand?: string,
    focused?: string,
  ) => {
    const opts = optionsJson(options, focused);
    return {
      id: commandIds.get(name) ?? snowflake(),
      name,
      type: 1,
      guild_id: o.guildId,
      options: subcommand ? [{ name: subcommand, type: 1, options: opts }] : opts,
    };
  };

  const defaultChannel = o.channelIds[0] as string;

  return {
    restApi: `http://127.0.0.1:${port}/api`,
    gatewayUrl,
    requests,
    commands: registered,
    messages: (channelId) =>
      [...messages.values()].filter(
        (m) => (channelId === undefined || m.channelId === channelId) && (m.flags & EPHEMERAL) === 0,
      ),
    message: (id) => messages.get(id),
    sessions: () => identified.size,
    async waitFor(probe, what, timeoutMs = 15_000) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const v = probe();
        if (v !== undefined && v !== false) return v;
        if (performance.now() > deadline) throw new Error(`fake Discord: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    callbackOf: (interactionId) =>
      requests.find((q) => q.method === "POST" && q.path.startsWith(`/interactions/${interactionId}/`)),
    command: ({ user, name, options = {}, subcommand, channelId = defaultChannel }) =>
      inject(2, user, channelId, commandData(name, options, subcommand)),
    click: ({ user, customId, messageId, channelId }) => {
      const m = messages.get(messageId);
      if (!m) throw new Error(`fake Discord: no message ${messageId} to click on`);
      return inject(
        3,
        user,
        channelId ?? m.channelId,
        { custom_id: customId, component_type: 2 },
        { message: messageJson(m) },
        messageId,
      );
    },
    autocomplete: ({ user, name, options, focused, subcommand, channelId = defaultChannel }) =>
      inject(4, user, channelId, commandData(name, options, subcommand, focused)),
    async close() {
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
