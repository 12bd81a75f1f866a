// The appliance's configuration: one file (YAML or JSON) plus the environment overrides
// (FACEGATE_CONFIG picks the file; DATABASE_URL, REDIS_URL, FACEGATE_DATA_DIR and
// FACEGATE_MODELS_DIR win over it), parsed once at start and validated into a typed object. A bad
// file gets errors that name the key, what was expected and what was received. Every key says what
// it does (`describe()`, printed by `facegate config print --defaults`), and a default that another
// module owns is taken from that module, where its reason is written, never repeated here.
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import {
  DEFAULT_APPLIANCE_ID,
  DEFAULT_CAMERA_TTL_SECONDS,
  DEFAULT_WORKER_TTL_SECONDS,
  parseStorageConfig,
  type StorageConfig,
} from '../../storage/config.js';
import { quoteReceived } from '../../storage/checks.js';
import { idProblem } from '../../storage/ids.js';
import { isSecretName, REDACTED, redactCredentials, redactUrl } from '../../storage/redact.js';
import { DEFAULT_FPS, DEFAULT_HEIGHT, DEFAULT_WIDTH } from '../camera/ffmpeg-args.js';
import { DEFAULT_WATCHDOG_MS } from '../camera/rtsp-source.js';
import { projectRoot } from '../../core/project-root.js';
import {
  DEFAULT_DECISION_THRESHOLDS,
  DEFAULT_UNKNOWN_AFTER_FRAMES,
  type DecisionThresholds,
  unsafeThresholds,
} from '../recognition/decision.js';
import type { SiteThreshold } from '../recognition/site-threshold.js';
import { isTimeZone, WEEKDAYS } from '../access/rules.js';
import { DEFAULT_FOLLOW } from '../pipeline/follow.js';
import { DEFAULT_MOTION_GATE } from '../pipeline/motion-gate.js';
import { CAMERA_DETECTOR_SCALE } from '../vision/detector.js';
import type { VisionOptions } from '../vision/index.js';
import { PROVIDERS } from '../vision/providers.js';
import { TOPIC_PREFIX } from '../outputs/mqtt-output.js';
import { DEFAULT_MAX_MESSAGES } from '../outputs/outputs.js';
import { describeUrl } from '../outputs/webhook-output.js';
import { type Environment, readEnvironment } from './environment.js';

// Camera ids become folder names and key parts: storage's own rule (storage/ids.ts), so that
// no id passes here that storage refuses at run time.
const cameraId = z.string().superRefine((value, ctx) => {
  const problem = idProblem('camera', value);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});
const unit = z.number().min(0).max(1);

// The appliance id (issue 18) goes into every event and is a part of the health keys: storage's rule too.
const applianceId = z
  .string()
  .superRefine((value, ctx) => {
    const problem = idProblem('appliance', value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  })
  .default(DEFAULT_APPLIANCE_ID);

// --- the pipeline's work per frame (issue 15: src/pipeline/motion-gate.ts, follow.ts) ---
const motionKeys = {
  // The bounds keep the gate from never looking: a face changes its cells by 46-65 levels at the
  // median and covers 14-16 of them at the smallest size the quality gate accepts (motion-gate.ts).
  cellDelta: z
    .number()
    .gt(0)
    .max(32)
    .describe('A grid cell changed when its mean luma moved by more than this (at most 32; motion-gate.ts says why).'),
  minCells: z
    .number()
    .int()
    .min(1)
    .max(8)
    .describe('Changed cells that make a frame worth detecting (at most 8: half what the smallest face changes).'),
  fullEveryMs: z
    .number()
    .min(100)
    .max(10_000)
    .describe(
      'A full detection at least this often (ms, at most 10 s), motion or not: catches a person who never moved.',
    ),
};
const cameraMotionSchema = z.union([
  z.literal(false),
  z.strictObject({
    cellDelta: motionKeys.cellDelta.optional(),
    minCells: motionKeys.minCells.optional(),
    fullEveryMs: motionKeys.fullEveryMs.optional(),
  }),
]);
const pipelineSchema = z
  .strictObject({
    motion: z
      .union([
        z.literal(false),
        z.strictObject({
          cellDelta: motionKeys.cellDelta.default(DEFAULT_MOTION_GATE.cellDelta),
          minCells: motionKeys.minCells.default(DEFAULT_MOTION_GATE.minCells),
          fullEveryMs: motionKeys.fullEveryMs.default(DEFAULT_MOTION_GATE.fullEveryMs),
        }),
      ])
      .prefault({})
      .describe(
        "Every camera's motion gate: frames where nothing moved skip the detector (a camera may set its own keys); false: every frame of every camera is detected, whatever a camera sets.",
      ),
    follow: z
      .union([
        z.literal(false),
        z.strictObject({
          minIou: z
            .number()
            .gt(0)
            .max(1)
            .default(DEFAULT_FOLLOW.minIou)
            .describe(
              "A decided track's face is followed without an embedding when its box overlaps the last by this IoU.",
            ),
          reembedAfterMs: z
            .number()
            .min(100)
            .max(10_000)
            .default(DEFAULT_FOLLOW.reembedAfterMs)
            .describe("A followed track's face is embedded again after this long (ms): its embedding budget."),
        }),
      ])
      .prefault({})
      .describe('Decide once, then follow (follow.ts); false: every face of every detected frame is embedded.'),
    parallelStages: z
      .boolean()
      .default(true)
      .describe("Detection of one camera's frame beside the decision of another's; false: one frame at a time."),
  })
  .prefault({})
  .describe('How much work each camera frame gets (`facegate bench pipeline` measures it).');
// --- end of the pipeline's work per frame ---

const cameraSchema = z
  .strictObject({
    id: cameraId.describe(
      "The camera's id: events, health keys and unknown-face crops are filed under it (letters, digits, _ and -).",
    ),
    url: z
      .string()
      .regex(
        /^(rtsps?:\/\/[^/\s]+|slideshow:.+|replay:.+)/,
        'expected an rtsp:// or rtsps:// URL (or slideshow:<list> for the demo, replay:<video file> for recorded footage)',
      )
      .describe(
        "rtsp:// or rtsps:// (credentials allowed, never printed): the camera's substream at about the configured size where it has one (decoding a 4K main stream costs several times a 720p one); slideshow:<ffmpeg concat list> plays photos for a demo; replay:<video file> plays recorded footage in real time.",
      ),
    enabled: z.boolean().default(true).describe('false keeps the camera configured but not pulled.'),
    fps: z
      .number()
      .int()
      .min(1)
      .max(30)
      .default(DEFAULT_FPS)
      .describe(
        'Frames per second handed to the pipeline (src/camera/ffmpeg-args.ts: enough to track a walking person).',
      ),
    width: z
      .number()
      .int()
      .min(64)
      .max(3840)
      .multipleOf(2)
      .default(DEFAULT_WIDTH)
      .describe(
        'Frame width in pixels; the picture is letterboxed into width x height. Why 1280x720: src/camera/ffmpeg-args.ts.',
      ),
    height: z
      .number()
      .int()
      .min(64)
      .max(2160)
      .multipleOf(2)
      .default(DEFAULT_HEIGHT)
      .describe('Frame height in pixels (even).'),
    watchdogSeconds: z
      .number()
      .min(1)
      .max(300)
      .default(DEFAULT_WATCHDOG_MS / 1000)
      .describe(
        'Seconds without a frame before ffmpeg is killed and the camera reconnects (src/camera/rtsp-source.ts).',
      ),
    detectorSize: z
      .number()
      .int()
      .min(96)
      .max(1280)
      .multipleOf(32)
      .optional()
      .describe(
        `The camera detector's input size (longest side). Absent: ${CAMERA_DETECTOR_SCALE.toFixed(3)} x the frame's longer side in multiples of 32 (416 at 1280x720; src/vision/detector.ts says why); \`facegate bench detector\` measures a frame size.`,
      ),
    motion: cameraMotionSchema
      .optional()
      .describe("This camera's motion gate over pipeline.motion; false: every frame of this camera is detected."),
  })
  .superRefine((camera, ctx) => {
    // Below a quarter of the frame's longer side the smallest face the quality gate accepts (32 px
    // between the eyes) is 8 px or less in the detector's input: found too rarely to be worth it.
    const longer = Math.max(camera.width, camera.height);
    if (camera.detectorSize !== undefined && camera.detectorSize < longer / 4) {
      ctx.addIssue({
        code: 'custom',
        path: ['detectorSize'],
        message: `Expected a detector size of at least a quarter of the frame's longer side (${Math.ceil(longer / 4 / 32) * 32} for ${camera.width}x${camera.height}) but received ${camera.detectorSize}`,
      });
    }
  });

// --- site calibration (issue 13) ---
/** The most lenient target `calibrate` accepts: above 1 stranger in 100 named is no longer "never name a stranger". */
export const MAX_CALIBRATION_TARGET = 0.01;
/** Issue 13's 1 stranger in 10,000 named, facing the whole gallery. */
export const DEFAULT_CALIBRATION_TARGET = 1e-4;
// --- end of site calibration ---

// --- access rules (issue 17: src/access/rules.ts) ---
const doorRuleSchema = z.strictObject({
  roles: z
    .array(z.string().min(1).max(100))
    .min(1)
    .describe('Roles that may pass (a user passes with any one of them).'),
  days: z
    .array(z.enum(WEEKDAYS))
    .min(1)
    .optional()
    .describe('Days (mon..sun, in the site time zone) the rule holds. Absent: every day.'),
  from: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected "HH:MM" (00:00-23:59)')
    .optional()
    .describe('From this local time ("HH:MM"). Absent: 00:00.'),
  to: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected "HH:MM" (00:00-23:59)')
    .optional()
    .describe(
      'Until this local time ("HH:MM", not included); before `from`, the window spans midnight. Absent: 24:00.',
    ),
});
const accessSchema = z
  .strictObject({
    timeZone: z
      .string()
      .refine(isTimeZone, 'expected an IANA time zone such as Europe/Berlin')
      .describe("The site's time zone (IANA, e.g. Europe/Berlin): the doors' days and hours are in it."),
    doors: z
      .record(cameraId, z.array(doorRuleSchema).min(1))
      .describe('Camera id -> the rules of its door. A camera no rule mentions denies every known user.'),
  })
  .optional()
  .describe(
    'Access rules: each recognition event gets granted, denied or unknown (src/access/rules.ts). Absent: no access control, no verdict.',
  );
// --- end of access rules ---

// --- outputs: MQTT, Home Assistant, webhooks (issue 17: src/outputs/) ---
const outputName = z.string().superRefine((value, ctx) => {
  const problem = idProblem('output', value);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});
const deliveryTimeoutMs = z
  .number()
  .int()
  .min(100)
  .max(60_000)
  .default(5_000)
  .describe('How long one delivery may take before it counts as failed and is retried (ms).');
const mqttOutputSchema = z.strictObject({
  name: outputName.describe('Names the output in logs, /health and its outbox folder (outbox/<name>).'),
  url: z
    .string()
    .regex(/^mqtts?:\/\/[^/\s]+$/, 'expected mqtt://host:port or mqtts://host:port (TLS)')
    .describe('The broker: mqtt://host:1883, or mqtts://host:8883 for TLS.'),
  username: z.string().min(1).optional().describe('The broker user, if it asks for one.'),
  password: z.string().min(1).optional().describe('The broker password (never logged or printed).'),
  clientId: z.string().min(1).max(64).optional().describe('The MQTT client id. Absent: facegate-<nodeId>-<name>.'),
  topicPrefix: z
    .string()
    .regex(TOPIC_PREFIX, 'expected non-empty topic levels without # or +, no leading or trailing /')
    .default('facegate')
    .describe(
      'Topics: <prefix>/<camera>/recognition, <prefix>/<camera>/access, <prefix>/<camera>/status, <prefix>/availability.',
    ),
  tls: z
    .strictObject({
      ca: z.string().min(1).optional().describe("A PEM file of the broker's certificate authority."),
      cert: z.string().min(1).optional().describe('A PEM client certificate, for brokers that ask for one.'),
      key: z.string().min(1).optional().describe("The client certificate's PEM key file."),
      rejectUnauthorized: z
        .boolean()
        .default(true)
        .describe('Refuse a broker whose certificate does not verify (turn off only for a test broker).'),
    })
    .optional()
    .describe('TLS settings for an mqtts:// broker.'),
  homeAssistant: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Announce each camera to Home Assistant by MQTT discovery.'),
      discoveryPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/, 'expected letters, digits, _ or -')
        .default('homeassistant')
        .describe("Home Assistant's discovery prefix (its MQTT integration's setting)."),
    })
    .prefault({})
    .describe('Home Assistant discovery (README, Home Assistant).'),
  timeoutMs: deliveryTimeoutMs,
});
const webhookOutputSchema = z.strictObject({
  name: outputName.describe('Names the output in logs, /health and its outbox folder (outbox/<name>).'),
  url: z
    .string()
    .regex(/^https?:\/\/\S+$/, 'expected an http:// or https:// URL')
    .describe('Where each message is POSTed as JSON.'),
  secret: z
    .string()
    .min(16, 'expected a secret of at least 16 characters')
    .describe('The HMAC-SHA256 key the X-Facegate-Signature header is made with (never logged or printed).'),
  timeoutMs: deliveryTimeoutMs,
  headers: z
    .record(
      z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'),
      z.string().regex(/^[^\r\n]*$/, 'expected one line'),
    )
    .optional()
    .describe('Extra request headers, e.g. an API key the receiver wants (their values are never logged).'),
});
const outputsSchema = z
  .strictObject({
    nodeId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, _ or - (MQTT client ids, Home Assistant ids)')
      .default('facegate')
      .describe(
        "This appliance's name to MQTT and Home Assistant (client ids, unique ids): distinct per appliance on one broker.",
      ),
    publicUrl: z
      .string()
      .regex(/^https?:\/\/[^\s?#]+$/, 'expected an http:// or https:// URL without query')
      .optional()
      .describe(
        "How receivers reach this appliance's API, for messages' crop URLs. Absent: the API's address (this machine's host name when api.host listens on every interface).",
      ),
    maxMessages: z
      .number()
      .int()
      .min(100)
      .max(1_000_000)
      .default(DEFAULT_MAX_MESSAGES)
      .describe(
        "Each output's outbox keeps at most this many undelivered messages; beyond it the oldest are dropped, counted and logged.",
      ),
    mqtt: z.array(mqttOutputSchema).max(8).default([]).describe('MQTT brokers to publish to (QoS 1).'),
    webhooks: z.array(webhookOutputSchema).max(16).default([]).describe('URLs to POST each message to, signed.'),
  })
  .refine(
    (o) =>
      new Set([...o.mqtt, ...o.webhooks].map((x) => x.name.toLowerCase())).size === o.mqtt.length + o.webhooks.length,
    'expected distinct output names across mqtt and webhooks',
  )
  .prefault({})
  .describe(
    'Where decisions and camera status changes are sent, each through a durable outbox (src/outputs/; README, Outputs).',
  );
// --- end of outputs ---

// An object's defaults are its keys' defaults: `prefault({})` parses an absent section as {}, so
// that no section repeats what its keys say.
export const configSchema = z
  .strictObject({
    applianceId: applianceId.describe(
      `Which appliance this is: stamped on every event, camera event and review action it records, and a part of its health keys. Give each appliance sharing one database its own (default ${DEFAULT_APPLIANCE_ID}: a site with one appliance; storage/config.ts says why it is not the host name).`,
    ),
    dataDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The data root: images, embeddings, the event spool and PGlite. Absent: var/storage in the project; FACEGATE_DATA_DIR wins.',
      ),
    modelsDir: z
      .string()
      .min(1)
      .optional()
      .describe('The verified model files. Absent: var/models in the project; FACEGATE_MODELS_DIR wins.'),
    database: z
      .strictObject({
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
          .optional()
          .describe(
            'postgres:// URL of a PostgreSQL server. Absent: embedded PGlite under the data root; DATABASE_URL wins.',
          ),
      })
      .prefault({})
      .describe('The event log and the durable record of users and embeddings.'),
    redis: z
      .strictObject({
        url: z
          .string()
          .regex(/^rediss?:\/\//, 'expected a redis:// URL')
          .optional()
          .describe('redis:// URL for the health keys. Absent: health is kept in memory; REDIS_URL wins.'),
      })
      .prefault({})
      .describe('Camera and worker health.'),
    cameras: z
      .array(cameraSchema)
      .max(64)
      .default([])
      .refine(
        (cams) => new Set(cams.map((c) => c.id.toLowerCase())).size === cams.length,
        'expected distinct camera ids',
      )
      .describe('The RTSP cameras `serve` pulls (at most 64, distinct ids).'),
    pipeline: pipelineSchema,
    inference: z
      .strictObject({
        provider: z
          .enum(PROVIDERS)
          .default('auto')
          .describe(
            'ONNX Runtime execution provider. auto: dml on Windows, cuda on Linux x64, else cpu; webgpu (Vulkan on Linux, Windows): the embedder on the GPU, the detectors on the CPU (src/vision/inference.ts providerFor says why); an unavailable one falls back to cpu, with a log line.',
          ),
        intraOpThreads: z
          .number()
          .int()
          .min(1)
          .max(64)
          .optional()
          .describe("Threads per model. Absent: facegate's tuned CPU setting (src/vision/inference.ts)."),
        detector: z
          .string()
          .optional()
          .describe("Detector model by name in models/manifest.json, for photos. Absent: the manifest's default."),
        cameraDetector: z
          .string()
          .optional()
          .describe(
            "Detector for camera frames, one whose input size is free (cameras[].detectorSize). Absent: the manifest's default.cameraDetector.",
          ),
        embedder: z
          .string()
          .optional()
          .describe("Embedder model by name in models/manifest.json. Absent: the manifest's default."),
      })
      .prefault({})
      .describe('The vision models and where they run.'),
    recognition: z
      .strictObject({
        match: unit
          .optional()
          .describe(
            "The match threshold (cosine). Absent: the site's calibration, else the built-in default " +
              `${DEFAULT_DECISION_THRESHOLDS.match} (src/recognition/site-threshold.ts, decision.ts); set, it overrides a calibration.`,
          ),
        margin: unit
          .default(DEFAULT_DECISION_THRESHOLDS.margin)
          .describe('How far the best user must lead the runner-up user (decision.ts says why).'),
        minVotes: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(DEFAULT_DECISION_THRESHOLDS.minVotes)
          .describe('Live video: frames of one track that must each name the same user.'),
        minVoteShare: unit
          .default(DEFAULT_DECISION_THRESHOLDS.minVoteShare)
          .describe("... and the share of the track's decided frames that user must win."),
        unknownAfterFrames: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(DEFAULT_UNKNOWN_AFTER_FRAMES)
          .describe('A track that names nobody is decided unknown after this many decided frames (or when it ends).'),
        autoLearning: z
          .boolean()
          .default(false)
          .describe(
            "Adds confidently recognised live faces to their user's gallery; off unless asked (src/recognition/auto-learning.ts).",
          ),
        allowUnsafeThresholds: z
          .boolean()
          .default(false)
          .describe(
            'Runs with match or margin under their floors (decision.ts), with a warning at start; otherwise such a file is refused.',
          ),
        // --- site calibration (issue 13, src/recognition/calibration.ts) ---
        calibrationTarget: z
          .number()
          .gt(0)
          .max(MAX_CALIBRATION_TARGET)
          .default(DEFAULT_CALIBRATION_TARGET)
          .describe(
            'The highest acceptable probability that a stranger facing the whole gallery is named as someone: ' +
              '`facegate calibrate` proposes the threshold that keeps to it (at most 0.01).',
          ),
        // --- end of site calibration ---
      })
      .superRefine((r, ctx) => {
        if (r.allowUnsafeThresholds) return;
        for (const u of unsafeThresholds({ match: r.match ?? DEFAULT_DECISION_THRESHOLDS.match, margin: r.margin })) {
          ctx.addIssue({
            code: 'custom',
            path: [u.key],
            message:
              `Expected ${u.key === 'match' ? 'a match threshold' : 'a margin'} of at least ${u.floor} (${u.why}; see src/recognition/decision.ts) ` +
              `but received ${u.received}; to run with it anyway set recognition.allowUnsafeThresholds: true`,
          });
        }
      })
      .prefault({})
      .describe(
        'The match decision. Its defaults live in src/recognition/decision.ts, where their evidence is written.',
      ),
    retention: z
      .strictObject({
        unknownDays: z
          .number()
          .int()
          .min(0)
          .max(3650)
          .default(30)
          .describe("Unknown-face crops are purged after this many days (the LLD's N)."),
      })
      .prefault({})
      .describe('What the appliance deletes by itself, and when.'),
    health: z
      .strictObject({
        cameraTtlSeconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(DEFAULT_CAMERA_TTL_SECONDS)
          .describe('A camera with no frame for this long reads offline (storage/config.ts says why).'),
        workerTtlSeconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(DEFAULT_WORKER_TTL_SECONDS)
          .describe('A worker with no heartbeat for this long is presumed dead (storage/config.ts says why).'),
      })
      .prefault({})
      .describe("The health keys' lifetimes."),
    api: z
      .strictObject({
        host: z
          .string()
          .min(1)
          .default('127.0.0.1')
          .describe("Loopback by default: the API is for the site's own tools; expose it deliberately."),
        port: z.number().int().min(1).max(65535).default(8450).describe("The HTTP API's port."),
      })
      .prefault({})
      .describe('The HTTP API `serve` opens (a bearer token is always required).'),
    logging: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
          .default('info')
          .describe('The least severe level logged.'),
      })
      .prefault({})
      .describe('The JSON log lines (stderr).'),
    access: accessSchema,
    outputs: outputsSchema,
  })
  .superRefine((config, ctx) => {
    // Camera ids become MQTT topic levels and Home Assistant ids, which take no '.' (mqtt-output.ts).
    if (config.outputs.mqtt.length > 0) {
      for (const [i, camera] of config.cameras.entries()) {
        if (!/^[A-Za-z0-9_-]+$/.test(camera.id))
          ctx.addIssue({
            code: 'custom',
            path: ['cameras', i, 'id'],
            message: `Expected a camera id of letters, digits, _ or - with an MQTT output (its topics and Home Assistant ids) but received "${camera.id}"`,
          });
      }
    }
    // A door for a camera that is not configured is a typo that would deny nobody and grant nobody.
    const cameras = new Set(config.cameras.map((c) => c.id));
    for (const door of Object.keys(config.access?.doors ?? {})) {
      if (!cameras.has(door)) {
        ctx.addIssue({
          code: 'custom',
          path: ['access', 'doors', door],
          message: `Expected a configured camera id but received "${door}" (cameras: ${[...cameras].join(', ') || 'none'})`,
        });
      }
    }
  });

export type AppConfig = z.output<typeof configSchema> & { dataDir: string; modelsDir: string; source: string | null };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * What was received, as far as it is safe to print: an object or list never (an unknown key on a
 * camera would print its URL with the password), a string only through the URL redaction, a
 * value under a secret-looking key not at all. Nothing when the message already says it.
 */
function shownInput(issue: z.core.$ZodIssue): string {
  if (!('input' in issue) || issue.input === undefined || /\breceived\b/.test(issue.message)) return '';
  const value = issue.input;
  const key = String(issue.path.at(-1) ?? '');
  if (typeof value === 'string') {
    if (isSecretName(key)) return ' (received a hidden value)';
    return ` (received ${quoteReceived(/@|:\/\//.test(value) ? redactUrl(value) : redactCredentials(value))})`;
  }
  if (value !== null && typeof value === 'object')
    return ` (received ${Array.isArray(value) ? 'a list' : 'an object'})`;
  return ` (received ${quoteReceived(value)})`;
}

function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}${shownInput(i)}`);
  return `Invalid configuration in ${source}:\n${lines.join('\n')}`;
}

/** Validates an already-parsed configuration object; `baseDir` resolves relative paths. */
export function parseConfig(
  input: unknown,
  options: { source?: string; baseDir?: string; env?: Environment } = {},
): AppConfig {
  const source = options.source ?? 'configuration';
  const result = configSchema.safeParse(input ?? {}, { reportInput: true });
  if (!result.success) throw new ConfigError(describeIssues(result.error, source));
  const env = options.env ?? {};
  const base = options.baseDir ?? process.cwd();
  const c = result.data;
  const resolve = (p: string) => path.resolve(base, p);
  return {
    ...c,
    dataDir: env.dataDir
      ? path.resolve(env.dataDir)
      : c.dataDir
        ? resolve(c.dataDir)
        : path.join(projectRoot(), 'var', 'storage'),
    modelsDir: env.modelsDir
      ? path.resolve(env.modelsDir)
      : c.modelsDir
        ? resolve(c.modelsDir)
        : path.join(projectRoot(), 'var', 'models'),
    database: env.databaseUrl ? { url: env.databaseUrl } : c.database,
    redis: env.redisUrl ? { url: env.redisUrl } : c.redis,
    // TLS files, like every path in the file, are relative to the file's folder (not to wherever a
    // service manager starts the process).
    outputs: {
      ...c.outputs,
      mqtt: c.outputs.mqtt.map((m) =>
        m.tls
          ? {
              ...m,
              tls: {
                ...m.tls,
                ...(m.tls.ca ? { ca: resolve(m.tls.ca) } : {}),
                ...(m.tls.cert ? { cert: resolve(m.tls.cert) } : {}),
                ...(m.tls.key ? { key: resolve(m.tls.key) } : {}),
              },
            }
          : m,
      ),
    },
    source: options.source ?? null,
  };
}

/** Reads the file (FACEGATE_CONFIG or `file`; none: defaults) and applies the environment. */
export async function loadConfig(file?: string, env: Environment = readEnvironment()): Promise<AppConfig> {
  const chosen = file ?? env.configFile;
  if (!chosen) return parseConfig({}, { env });
  let text: string;
  try {
    text = await fs.readFile(chosen, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read the configuration file ${chosen}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    // JSON is YAML too, but a .json file gets JSON's stricter errors.
    raw = /\.json$/i.test(chosen) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    // The parsers quote the text around the mistake, which may be a URL with its password.
    throw new ConfigError(
      `The configuration file ${chosen} is not valid ${/\.json$/i.test(chosen) ? 'JSON' : 'YAML'}: ${redactCredentials((error as Error).message)}`,
    );
  }
  return parseConfig(raw, { source: chosen, baseDir: path.dirname(path.resolve(chosen)), env });
}

/** URLs with their credentials hidden (storage/redact.ts), for printing a configuration. */
export function redactConfig(config: AppConfig): AppConfig {
  return {
    ...config,
    database: { ...(config.database.url ? { url: redactUrl(config.database.url) } : {}) },
    redis: { ...(config.redis.url ? { url: redactUrl(config.redis.url) } : {}) },
    cameras: config.cameras.map((c) => ({ ...c, url: redactUrl(c.url) })),
    outputs: {
      ...config.outputs,
      mqtt: config.outputs.mqtt.map((m) => ({
        ...m,
        url: redactUrl(m.url),
        ...(m.password ? { password: REDACTED } : {}),
      })),
      webhooks: config.outputs.webhooks.map((w) => ({
        ...w,
        // The whole query hidden: a receiver's key may sit in a parameter of any name (Azure's ?code=).
        url: describeUrl(w.url),
        secret: REDACTED,
        ...(w.headers ? { headers: Object.fromEntries(Object.keys(w.headers).map((k) => [k, REDACTED])) } : {}),
      })),
    },
  };
}

/** What a valid configuration still deserves a word about (logged at start, printed by `config check`). */
export function configWarnings(config: AppConfig): string[] {
  const r = config.recognition;
  const unsafe = unsafeThresholds({ match: r.match ?? DEFAULT_DECISION_THRESHOLDS.match, margin: r.margin });
  if (unsafe.length === 0) return [];
  const what = unsafe.map((u) => `recognition.${u.key} ${u.received} is below ${u.floor} (${u.why})`).join('; ');
  return [`unsafe recognition thresholds, allowed by recognition.allowUnsafeThresholds: ${what}`];
}

/** The storage layer's part of the configuration. */
export function storageConfigOf(c: AppConfig): StorageConfig {
  return parseStorageConfig({
    applianceId: c.applianceId,
    dataRoot: c.dataDir,
    ...(c.database.url ? { databaseUrl: c.database.url } : {}),
    ...(c.redis.url ? { redisUrl: c.redis.url } : {}),
    cameraTtlSeconds: c.health.cameraTtlSeconds,
    workerTtlSeconds: c.health.workerTtlSeconds,
  });
}

/** The vision models' part of the configuration. */
export function visionOptionsOf(c: AppConfig): VisionOptions {
  const i = c.inference;
  return {
    modelsDir: c.modelsDir,
    provider: i.provider,
    ...(i.intraOpThreads ? { intraOpThreads: i.intraOpThreads } : {}),
    ...(i.detector ? { detector: i.detector } : {}),
    ...(i.cameraDetector ? { cameraDetector: i.cameraDetector } : {}),
    ...(i.embedder ? { embedder: i.embedder } : {}),
  };
}

/**
 * The match decision's part of the configuration, with the site's match threshold: the one rule in
 * src/recognition/site-threshold.ts decided it (configured, calibrated or default).
 */
export function decisionThresholdsOf(c: AppConfig, site: Pick<SiteThreshold, 'match'>): DecisionThresholds {
  const r = c.recognition;
  return { match: site.match, margin: r.margin, minVotes: r.minVotes, minVoteShare: r.minVoteShare };
}
